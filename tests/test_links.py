"""Linked calls: after the router routed a call once, kernels call each other directly.

Real kernels through a Session. Each test shows that calls really went kernel to kernel
(the router's `linked_calls` counter) and that what the router knows is unchanged: spans
with their parents and arguments, output in causal order, errors with the merged chain,
limits, and a link to a kernel that died being rerouted to a fresh instance.
"""

from __future__ import annotations

import io
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from metakernel_dbg import RenderError, Session
from metakernel_dbg.errors import CallDepthError


@pytest.fixture
def out() -> io.StringIO:
    return io.StringIO()


@pytest.fixture
def session(out: io.StringIO) -> Iterator[Session]:
    s = Session(stdout=out, stderr=out, call_timeout=60, pool_size=0)
    with s:
        yield s


def define(session: Session, **sources: str) -> None:
    for name, source in sources.items():
        session.define(name, textwrap.dedent(source))


def linked(session: Session) -> int:
    return session._core.engine.router.linked_calls


def test_repeated_calls_go_direct_and_every_one_is_a_span(session: Session) -> None:
    define(
        session,
        double="""\
        def double(x):
            return 2 * x
        """,
        loop="""\
        def loop(n, fail_at):
            total = 0
            for i in range(n):
                total += call("double", i)
                if i == fail_at:
                    raise ValueError(f"stop at {i}: {total}")
            return total
        """,
    )
    before = linked(session)
    assert session.call("loop", 200, -1) == 2 * sum(range(200))
    assert linked(session) - before == 199, "only the first call is routed"

    with pytest.raises(RenderError) as failure:
        session.call("loop", 50, 49)
    d = failure.value.trace.to_dict()
    loop = next(s for s in d["spans"] if s["function"] == "loop")
    doubles = [s for s in d["spans"] if s["function"] == "double"]
    assert len(doubles) == 50
    assert {s["parent_span_id"] for s in doubles} == {loop["span_id"]}
    assert sorted(s["args"][0] for s in doubles) == list(range(50))
    assert all(s["status"] == "ok" and s["end_ns"] >= s["start_ns"] for s in doubles)
    assert len({s["kernel"]["pid"] for s in doubles}) == 1
    assert loop["error"]["message"] == f"stop at 49: {2 * sum(range(50))}"


def test_output_of_linked_calls_keeps_its_order(session: Session, out: io.StringIO) -> None:
    define(
        session,
        inner="""\
        def inner(i):
            print(f"inner {i}")
            return i
        """,
        middle="""\
        def middle(i):
            print(f"middle {i} before")
            call("inner", i)
            print(f"middle {i} after")
            return i
        """,
        outer="""\
        def outer(n):
            for i in range(n):
                print(f"outer {i}")
                call("middle", i)
            print("outer done")
        """,
    )
    session.call("outer", 100)
    expected = []
    for i in range(100):
        expected += [f"outer {i}", f"middle {i} before", f"inner {i}", f"middle {i} after"]
    assert out.getvalue().splitlines() == [*expected, "outer done"]


def test_an_error_in_a_linked_call_carries_the_whole_chain(session: Session) -> None:
    define(
        session,
        leaf="""\
        def leaf(i):
            if i == 7:
                return {}["missing"]
            return i
        """,
        mid="""\
        def mid(i):
            return call("leaf", i)
        """,
        top="""\
        def top():
            out = []
            for i in range(10):
                out.append(call("mid", i))
            return out
        """,
    )
    with pytest.raises(RenderError) as failure:
        session.call("top")
    trace = failure.value.trace
    assert trace.to_text().splitlines()[-1] == "KeyError: 'missing'"
    d = trace.to_dict()
    assert [e["function"] for e in d["stack"]] == ["top", "mid", "leaf"]
    failed_leaf = next(s for s in d["spans"] if s["function"] == "leaf" and s["error"])
    assert failed_leaf["args"] == [7]
    failed_mid = next(s for s in d["spans"] if s["function"] == "mid" and s["error"])
    assert failed_mid["error"]["propagated_from"] == failed_leaf["span_id"]
    assert session.call("mid", 3) == 3  # the session lives on


def test_recursion_links_each_level_to_its_own_instance(out: io.StringIO) -> None:
    with Session(stdout=out, stderr=out, call_timeout=60, pool_size=0, max_depth=4) as s:
        define(
            s,
            fib="""\
            def fib(n):
                return n if n < 2 else call("fib", n - 1) + call("fib", n - 2)
            """,
        )
        before = linked(s)
        assert s.call("fib", 4) == 3  # depth 4: fib(4) -> fib(3) -> fib(2) -> fib(1)
        assert linked(s) > before, "repeated calls at the same depth were linked"
        pids = {i.child.pid for i in s._core.engine.instances["fib"]}
        assert len(pids) == 4, "one instance per level"
        with pytest.raises(RenderError) as failure:
            s.call("fib", 5)  # one level too deep, even though every level holds links
        assert CallDepthError.__name__ in failure.value.trace.to_text()
        assert "call depth limit 4" in failure.value.trace.to_text()


def test_a_link_to_a_dead_kernel_is_rerouted_to_a_fresh_one(session: Session) -> None:
    define(
        session,
        victim="""\
        def victim(die):
            import os
            if die:
                os.kill(os.getpid(), 9)
            return os.getpid()
        """,
        survivor="""\
        def survivor():
            first = call("victim", False)
            again = call("victim", False)  # linked
            try:
                call("victim", True)
            except Exception as exc:
                died = type(exc).__name__
            return [first, again, died, call("victim", False)]
        """,
    )
    first, again, died, fresh = session.call("survivor")
    assert first == again, "the second call used the link to the same instance"
    assert died == "KernelDiedError"
    assert fresh != first, "the call after the death reached a fresh instance"


def test_a_forged_call_on_a_direct_line_is_dropped(session: Session, tmp_path: Path) -> None:
    log = tmp_path / "effect.log"
    define(
        session,
        effect=f"""\
        def effect(who):
            with open({str(log)!r}, "a") as f:
                f.write(who + "\\n")
            return who
        """,
        caller="""\
        def caller(n):
            import time
            out = []
            for _ in range(n):
                out.append(call("effect", "caller"))
                time.sleep(0.02)  # room for the forged messages to be read meanwhile
            return out
        """,
    )
    assert session.call("caller", 2) == ["caller", "caller"]
    engine = session._core.engine
    line = engine.router.direct[engine.instances["effect"][0].instance_id]
    assert Path(line).parent == Path(engine.workdir)  # inside the 0700 directory
    caller_id = engine.instances["caller"][0].instance_id
    # A local process that knows the line and the real caller's id, but not the keys.
    attacker = textwrap.dedent(f"""
        import os, socket, sys
        from metakernel_dbg.callplane.local import write_message
        from metakernel_dbg.callplane.values import dumps as encode
        from metakernel_dbg.callplane.wire import PAYLOAD, Channel
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.connect({line!r})
        write_message(sock, [{caller_id!r}.encode()])
        guess = Channel(os.urandom(32))
        for n in range(3):
            write_message(sock, guess.pack({{"k": "call", "id": str(n), "fn": "effect",
                                              PAYLOAD: encode([["forged"], {{}}])}}))
        print("sent", flush=True)
        sys.stdin.readline()
        sock.settimeout(1.0)
        try:
            print("answered" if sock.recv(1) else "closed")
        except socket.timeout:
            print("silence")
    """)
    attack = subprocess.Popen(
        [sys.executable, "-c", attacker],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).resolve().parent.parent,
    )
    try:
        assert attack.stdout is not None and attack.stdin is not None
        assert attack.stdout.readline().strip() == "sent"
        assert session.call("caller", 20) == ["caller"] * 20  # effect serves, reads its lines
        attack.stdin.write("check\n")
        attack.stdin.flush()
        verdict = attack.stdout.readline().strip()
    finally:
        attack.kill()
        attack.wait(timeout=10)
    assert verdict in ("silence", "closed")
    assert log.read_text().splitlines() == ["caller"] * 22, "a forged call ran the function"
