"""The call plane is private: signed, replay-protected, in a 0700 directory, loopback only,
and a process that is not one of our kernels can neither call a function nor read frames."""

from __future__ import annotations

import io
import os
import stat
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from metakernel_dbg import Session
from metakernel_dbg.callplane.wire import Channel, child_key
from metakernel_dbg.errors import CallArgumentError, CallBudgetError
from metakernel_dbg.session import RenderError


def test_channel_drops_forged_replayed_and_malformed_messages() -> None:
    key = child_key(os.urandom(32), "f-1")
    sender, receiver = Channel(key), Channel(key)
    first = sender.pack({"k": "call", "fn": "f"})
    second = sender.pack({"k": "call", "fn": "g"})
    assert receiver.unpack(first) == {"k": "call", "fn": "f", "n": 1}
    assert receiver.unpack(first) is None, "replayed"
    forged = Channel(child_key(os.urandom(32), "f-1")).pack({"k": "call", "n": 99})
    assert receiver.unpack(forged) is None, "wrong key"
    assert receiver.unpack([second[0].replace(b'"g"', b'"h"')]) is None, "tampered"
    assert receiver.unpack([b"x"]) is None and receiver.unpack([b"", b"{"]) is None
    assert receiver.unpack(second)["fn"] == "g"
    assert child_key(b"m" * 32, "a") != child_key(b"m" * 32, "b"), "one key per child"


@pytest.fixture
def session(tmp_path: Path) -> Iterator[Session]:
    s = Session(stdout=io.StringIO(), stderr=io.StringIO(), max_message=20_000, max_calls=5)
    with s:
        yield s


@pytest.mark.parametrize("suffix", ["", "~7"], ids=["as-a-kernel", "as-a-kernel-thread"])
def test_foreign_process_cannot_call_or_inspect(
    session: Session, tmp_path: Path, suffix: str
) -> None:
    marker = tmp_path / "called"
    session.define(
        "effect", f"def effect():\n    open({str(marker)!r}, 'w').close()\n    return 'done'\n"
    )
    engine = session._core.engine
    router = engine.router
    workdir = Path(engine.workdir)
    assert stat.S_IMODE(workdir.stat().st_mode) & 0o777 == 0o700
    socket_file = Path(router.address.removeprefix("ipc://"))
    assert stat.S_IMODE(socket_file.stat().st_mode) & 0o077 == 0
    victim = engine.instances["effect"][0].instance_id + suffix  # a kernel, or one of its threads

    # A local process that knows the address and an instance id but not the key.
    attacker = textwrap.dedent(f"""
        import json, os, zmq
        from metakernel_dbg.callplane.wire import Channel, child_key
        sock = zmq.Context.instance().socket(zmq.DEALER)
        sock.setsockopt(zmq.IDENTITY, {victim!r}.encode())
        sock.connect({router.address!r})
        guess = Channel(child_key(os.urandom(32), {victim!r}))
        for n in range(1, 4):
            sock.send_multipart(guess.pack({{"k": "call", "id": n, "fn": "effect",
                                             "args": [], "kwargs": {{}}}}))
        unsigned = json.dumps({{"k": "call", "n": 9, "fn": "effect"}}).encode()
        sock.send_multipart([b"0" * 32 + unsigned])
        sock.send_multipart(guess.pack({{"k": "inspect", "req": 1, "op": "stack"}}))
        print("answered" if sock.poll(1500) else "silence")
    """)
    out = subprocess.run(
        [sys.executable, "-c", attacker], capture_output=True, text=True, timeout=60
    )
    assert out.stdout.strip() == "silence", out.stderr
    assert not marker.exists(), "a forged call ran a function"
    assert not suffix or victim not in router.channels, "a forged thread got a channel"
    assert session.call("effect") == "done" and marker.exists(), "the real call still works"


def test_children_listen_only_on_loopback(session: Session) -> None:
    session.define("ok", "def ok():\n    return 1\n", kernel="xpython")
    pids = [i.child.pid for g in session._core.engine.instances.values() for i in g]
    for pid in pids:
        for conn in psutil.Process(pid).net_connections(kind="inet"):
            if conn.status == psutil.CONN_LISTEN:
                assert conn.laddr.ip in ("127.0.0.1", "::1"), (pid, conn)


def test_oversized_payload_and_call_budget_are_errors_at_the_call_site(session: Session) -> None:
    session.define("size", "def size(s):\n    return len(s)\n")
    session.define(
        "relay",
        textwrap.dedent("""\
        def relay(n):
            try:
                return call("size", "x" * n)
            except TypeError as exc:
                return "refused: " + str(exc)
        """),
    )
    assert session.call("relay", 100) == 100
    refused = session.call("relay", 50_000)
    assert refused.startswith("refused:") and "limit of 20000 bytes" in refused
    with pytest.raises(CallArgumentError, match="limit of 20000 bytes"):
        session.call("size", "y" * 50_000)

    session.define("loop", "def loop(n):\n    return [call('size', 'a') for _ in range(n)]\n")
    assert session.call("loop", 3) == [1, 1, 1]
    with pytest.raises(RenderError) as failure:
        session.call("loop", 10)
    assert "call budget of 5 calls" in failure.value.trace.to_text()
    assert session.call("size", "ok") == 2, "the router survived"
    assert CallBudgetError.__name__ in failure.value.trace.to_text()


def test_secrets_never_reach_logs_traces_or_history(session: Session) -> None:
    engine = session._core.engine
    session.define("boom", "def boom():\n    print('some output')\n    raise ValueError('x')\n")
    with pytest.raises(RenderError) as failure:
        session.call("boom")
    secrets = [engine.router.master.hex()]
    secrets += [engine.router.key_for(i.instance_id).hex() for i in engine.all_instances()]
    secrets += [i.child.kc.session.key.decode() for i in engine.all_instances()]
    texts = [failure.value.trace.to_json(), failure.value.trace.to_text()]
    texts += [p.read_text(errors="replace") for p in Path(engine.workdir).glob("*.log")]
    from IPython.paths import get_ipython_dir

    history = Path(get_ipython_dir()) / "profile_default" / "history.sqlite"
    if history.exists():
        texts.append(history.read_bytes().decode(errors="replace"))
    for secret in secrets:
        assert all(secret not in text for text in texts)
    keys = {i.child.kc.session.key for i in engine.all_instances()}
    assert len(keys) == len(engine.all_instances()), "each child has its own Jupyter key"


def test_per_render_isolation_leaves_no_state_between_renders() -> None:
    counter = (
        "def count():\n    import os\n    global n\n    n = globals().get('n', 0) + 1\n"
        "    return [n, os.getpid()]\n"
    )
    with Session(stdout=io.StringIO(), pool_size=2, isolation="per-render") as s:
        s.define("count", counter)
        runs = [s.call("count") for _ in range(3)]
        assert [n for n, _ in runs] == [1, 1, 1], "no state leaks between renders"
        assert len({pid for _, pid in runs}) == 3, "fresh kernels per render"
        used = [pid for _, pid in runs[:-1]]
    assert not [
        p
        for p in used
        if psutil.pid_exists(p) and psutil.Process(p).status() != psutil.STATUS_ZOMBIE
    ], "discarded kernels are gone"
    with Session(stdout=io.StringIO()) as s:
        s.define("count", counter)
        assert [s.call("count")[0] for _ in range(3)] == [1, 2, 3], "shared mode keeps state"
