"""Acceptance tests of scripted renders: `Session` / `AsyncSession` with real kernels.

The example library (examples/wikifunctions) is loaded once per module into one Session;
the tests that need their own settings (a call timeout, a kernel that gets SIGKILLed)
start a small Session of their own. Every Session is closed at teardown, even when a test
fails, and no test sleeps a fixed time: every wait is bounded.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import os
import re
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import jsonschema
import psutil
import pytest

from metakernel_dbg import AsyncSession, RenderError, Session
from metakernel_dbg.trace import load_schema

REPO = Path(__file__).resolve().parent.parent
EXAMPLE = REPO / "examples" / "wikifunctions"
FUNCTIONS = EXAMPLE / "functions"
DATA = EXAMPLE / "data" / "entities.json"

Q42_EN = "Douglas Adams (11 March 1952 \u2013 11 May 2001) was a British writer."
Q90_EN = "Paris is a city in France with a population of 2,145,906."
MALFORMED = {"type": "time", "precision": 11}  # Q999's P569 claim: no "time" field
#: how a frame's locals show MALFORMED (Python's bounded reprs, JS's util.inspect)
MALFORMED_REPRS = {repr(MALFORMED), "{ type: 'time', precision: 11 }"}
FAILING_CHAIN = ["article_intro", "lifespan", "format_value", "format_date"]
#: the failure in format_date.js (a JS function called by Python called by JS ...)
Q999_ERROR = ("TypeError", "Cannot read properties of undefined (reading 'split')")
Q999_FINAL = "TypeError: Cannot read properties of undefined (reading 'split')"
JS = "metakernel_dbg_js"
KERNELS = {"article_intro": "python3", "lifespan": JS, "format_value": "python3", "format_date": JS}
HEX16, HEX32 = re.compile(r"[0-9a-f]{16}"), re.compile(r"[0-9a-f]{32}")


# --------------------------------------------------------------------------- helpers


@pytest.fixture(scope="module", autouse=True)
def wikifunctions_data() -> Iterator[None]:
    """Child kernels inherit the environment: point the example at its data file."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("WIKIFUNCTIONS_DATA", str(DATA))
        yield


@contextlib.contextmanager
def open_session(**config) -> Iterator[Session]:
    """A started Session that is closed on the way out, whatever happened."""
    session = Session(**config)
    try:
        session.__enter__()
        yield session
    finally:
        session.close()


@contextlib.asynccontextmanager
async def open_async_session(**config):
    session = AsyncSession(**config)
    try:
        await session.__aenter__()
        yield session
    finally:
        await session.close()


def source_file(function: str) -> Path:
    """The example's file of FUNCTION (NAME.py or NAME.js)."""
    (path,) = [p for p in FUNCTIONS.glob(f"{function}.*") if p.suffix in (".py", ".js")]
    return path


def call_line(function: str, needle: str) -> int:
    """1-based line of the example file of FUNCTION that contains NEEDLE (exactly once)."""
    lines = source_file(function).read_text(encoding="utf-8").splitlines()
    hits = [i for i, line in enumerate(lines, 1) if needle in line]
    assert len(hits) == 1, (function, needle, hits)
    return hits[0]


def wait_gone(pids: list[int], timeout: float = 10.0) -> list[int]:
    """The pids among PIDS still running after TIMEOUT seconds (zombies count as gone)."""
    deadline = time.monotonic() + timeout
    while True:
        alive = []
        for pid in pids:
            try:
                if psutil.Process(pid).status() != psutil.STATUS_ZOMBIE:
                    alive.append(pid)
            except psutil.NoSuchProcess:
                pass
        if not alive or time.monotonic() > deadline:
            return alive
        time.sleep(0.1)


def spans_by_function(d: dict) -> dict[str, list[dict]]:
    out: dict[str, list[dict]] = {}
    for span in d["spans"]:
        out.setdefault(span["function"], []).append(span)
    return out


def failed_span(d: dict, function: str) -> dict:
    """The one failed span of FUNCTION in trace dict D."""
    failed = [s for s in d["spans"] if s["function"] == function and s["status"] == "error"]
    assert len(failed) == 1, (function, [s["span_id"] for s in failed])
    return failed[0]


def section(text: str, function: str) -> str:
    """The part of a text trace under FUNCTION's header, up to the next header."""
    match = re.search(rf"^── {re.escape(function)} \[.*?(?=^── |\Z)", text, re.M | re.S)
    assert match, f"no section for {function} in:\n{text}"
    return match.group(0)


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def library() -> Iterator[tuple[Session, io.StringIO, io.StringIO]]:
    """One Session with the whole example library loaded (one kernel per function)."""
    out, err = io.StringIO(), io.StringIO()
    with open_session(stdout=out, stderr=err, call_timeout=60) as session:
        names = session.load_directory(str(FUNCTIONS))
        files = [*FUNCTIONS.glob("*.py"), *FUNCTIONS.glob("*.js")]
        assert sorted(names) == sorted(p.stem for p in files)
        yield session, out, err


@pytest.fixture(scope="module")
def q999(library) -> RenderError:
    """The documented failing render, run once; several tests read its trace."""
    session, _, _ = library
    with pytest.raises(RenderError) as info:
        session.call("article_intro", "Q999", "en")
    return info.value


@pytest.fixture(scope="module")
def q999_dict(q999) -> dict:
    return q999.trace.to_dict()


# --------------------------------------------------------------------------- success


def test_article_intro_q42(library):
    session, _, _ = library
    assert session.call("article_intro", "Q42", "en") == Q42_EN


def test_article_intro_q90_through_xpython(library):
    session, _, _ = library
    assert session.call("article_intro", "Q90", "en") == Q90_EN


def test_format_quantity_runs_in_an_xpython_kernel(library):
    """The hop into xpython is real: a failure there is reported from an xpython kernel."""
    session, _, _ = library
    with pytest.raises(RenderError) as info:
        session.call("format_value", {"type": "quantity", "unit": "1"}, "en")
    d = info.value.trace.to_dict()
    span = failed_span(d, "format_quantity")
    assert span["kernel"]["spec"] == "xpython"
    assert span["error"]["type"] == "KeyError" and span["error"]["message"] == "'amount'"
    assert span["error"]["frames"][-1]["file"] == str(FUNCTIONS / "format_quantity.py")
    text = info.value.trace.to_text()
    assert f"── format_quantity [xpython pid {span['kernel']['pid']}]" in text
    assert text.splitlines()[-1] == "KeyError: 'amount'"


def test_function_output_goes_to_the_given_streams_in_order(library):
    session, out, err = library
    session.define(
        "chatty",
        "def chatty(n):\n"
        "    print('one', n)\n"
        "    print('two')\n"
        "    r = call('chatty_helper', n)\n"
        "    print('four', r)\n"
        "    return r\n",
    )
    session.define(
        "chatty_helper",
        "def chatty_helper(n):\n"
        "    import sys\n"
        "    print('three', n)\n"
        "    print('to stderr', file=sys.stderr)\n"
        "    return n * 2\n",
    )
    out_before, err_before = len(out.getvalue()), len(err.getvalue())
    assert session.call("chatty", 21) == 42
    assert out.getvalue()[out_before:] == "one 21\ntwo\nthree 21\nfour 42\n"
    assert err.getvalue()[err_before:] == "to stderr\n"


# --------------------------------------------------------------------------- the Q999 trace


def test_q999_raises_render_error(q999):
    assert isinstance(q999, RenderError)
    assert "TypeError" in str(q999)
    assert q999.trace is not None


def test_q999_text_names_every_level_in_order(q999, q999_dict):
    text = q999.trace.to_text()
    lines = text.splitlines()
    assert lines[0].startswith("Traceback (most recent call last")
    assert lines[-1] == Q999_FINAL
    positions = []
    for function in FAILING_CHAIN:
        span = failed_span(q999_dict, function)
        header = f"── {function} [{span['kernel']['spec']} pid {span['kernel']['pid']}]"
        assert span["kernel"]["spec"] == KERNELS[function]
        assert text.count(header) == 1, f"{header!r} not once in:\n{text}"
        positions.append(text.index(header))
    assert positions == sorted(positions), text
    assert text.index("<session>") < positions[0]
    # The raising frame, with its locals: the malformed value is what explains the bug.
    origin = section(text, "format_date")
    assert 'File "' + str(FUNCTIONS / "format_date.js") + '"' in origin
    assert "const [date] = value.time.split('T');" in origin
    shown = re.findall(r"^\s+value = (.*)$", origin, re.M)
    assert shown and shown[0] in MALFORMED_REPRS, origin
    assert re.search(r"^\s+lang = 'en'$", origin, re.M), origin
    # Each ancestor shows its own call line.
    assert 'span = call("lifespan", qid, lang)' in section(text, "article_intro")
    assert "const born = call('format_value', birth, lang);" in section(text, "lifespan")
    assert 'return call("format_date", value, lang)' in section(text, "format_value")


def test_q999_trace_validates_against_the_schema(q999, q999_dict):
    schema = load_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    jsonschema.Draft202012Validator(schema).validate(q999_dict)
    assert json.loads(q999.trace.to_json()) == q999_dict


def test_q999_ids(q999_dict):
    assert HEX32.fullmatch(q999_dict["trace_id"]) and set(q999_dict["trace_id"]) != {"0"}
    ids = [s["span_id"] for s in q999_dict["spans"]]
    assert all(HEX16.fullmatch(i) for i in ids), ids
    assert len(set(ids)) == len(ids)
    known = set(ids)
    roots = [s for s in q999_dict["spans"] if s["parent_span_id"] is None]
    assert len(roots) == 1
    assert all(s["parent_span_id"] in known for s in q999_dict["spans"] if s not in roots)


def test_q999_parent_links_form_the_chain(q999_dict):
    by_id = {s["span_id"]: s for s in q999_dict["spans"]}
    cur = failed_span(q999_dict, "format_date")
    walked = []
    while cur is not None:
        walked.append(cur["function"])
        cur = by_id.get(cur["parent_span_id"]) if cur["parent_span_id"] else None
    assert walked == ["format_date", "format_value", "lifespan", "article_intro", "<session>"]
    failed = [s["function"] for s in q999_dict["spans"] if s["status"] == "error"]
    assert sorted(failed) == sorted(["<session>", *FAILING_CHAIN])


def test_q999_origin_span(q999_dict):
    origin = failed_span(q999_dict, "format_date")
    error = origin["error"]
    assert (error["type"], error["message"]) == Q999_ERROR
    assert error.get("propagated_from") is None
    assert error["frames"], origin
    raising = error["frames"][-1]
    assert raising["file"] == str(FUNCTIONS / "format_date.js")
    assert raising["function"] == "format_date"
    assert raising["line"] == call_line("format_date", "value.time.split")
    assert raising["source"].startswith("const [date] = value.time.split('T');")
    assert raising["locals"]["value"] in MALFORMED_REPRS
    assert raising["locals"]["lang"] == "'en'"
    assert origin["exit"] is None and origin["timed_out"] is False


def test_q999_ancestors_link_to_their_child_and_keep_only_their_frames(q999_dict):
    chain = ["<session>", *FAILING_CHAIN]
    for parent_fn, child_fn in zip(chain, chain[1:], strict=False):
        parent, child = failed_span(q999_dict, parent_fn), failed_span(q999_dict, child_fn)
        assert parent["error"]["propagated_from"] == child["span_id"], parent_fn
        assert child["parent_span_id"] == parent["span_id"], child_fn
        # The original error travels up unchanged.
        assert (parent["error"]["type"], parent["error"]["message"]) == Q999_ERROR
        if parent_fn == "<session>":
            continue
        frames = parent["error"]["frames"]
        assert frames, parent_fn
        for frame in frames:  # its own frames only: never copied from a callee
            assert frame["file"] == str(source_file(parent_fn)), (parent_fn, frame)
        assert frames[-1]["line"] == child["call_site"]["line"]
    lifespan = failed_span(q999_dict, "lifespan")["error"]["frames"]
    assert [f["function"] for f in lifespan] == ["lifespan"]
    assert lifespan[-1]["locals"]["birth"] in MALFORMED_REPRS


def test_q999_stack_is_the_chain_innermost_last(q999, q999_dict):
    stack = q999_dict["stack"]
    assert [e["function"] for e in stack] == FAILING_CHAIN  # one frame per level here
    spans = {fn: failed_span(q999_dict, fn) for fn in FAILING_CHAIN}
    for entry in stack:
        span = spans[entry["function"]]
        assert entry["span_id"] == span["span_id"]
        assert entry["kernel"] == span["kernel"]
        frame = span["error"]["frames"][0]
        assert (entry["file"], entry["line"], entry["function_name"]) == (
            frame["file"],
            frame["line"],
            frame["function"],
        )
        assert entry["locals"] == frame["locals"]
    assert stack[-1]["file"] == str(FUNCTIONS / "format_date.js")
    # Exactly the frames the text shows, in the same order.
    text = q999.trace.to_text()
    where = [f'File "{e["file"]}", line {e["line"]}, in {e["function_name"]}' for e in stack]
    shown = re.findall(r'^  (File ".*", line \d+, in \S+)$', text, re.M)
    assert shown == where


def test_q999_span_fields(q999_dict):
    by_id = {s["span_id"]: s for s in q999_dict["spans"]}
    host = os.uname().nodename
    root = next(s for s in q999_dict["spans"] if s["parent_span_id"] is None)
    assert root["function"] == "<session>"
    assert root["kernel"]["spec"] == "session" and root["kernel"]["pid"] == os.getpid()
    assert root["call_site"] is None
    for span in q999_dict["spans"]:
        assert isinstance(span["start_ns"], int) and isinstance(span["end_ns"], int), span
        assert span["start_ns"] <= span["end_ns"]
        assert span["status"] in ("ok", "error")
        assert isinstance(span["args"], list) and span["kwargs"] == {}
        json.dumps(span["args"])
        assert span["kernel"]["host"] == host
        parent = by_id.get(span["parent_span_id"] or "")
        if parent is not None:  # a callee runs inside its caller's time
            assert parent["start_ns"] <= span["start_ns"] <= span["end_ns"] <= parent["end_ns"]
        if span is root:
            continue
        kernel = span["kernel"]
        assert kernel["spec"] in ("python3", "xpython", JS)
        assert kernel["kernel_id"] and isinstance(kernel["pid"], int) and kernel["pid"] > 0
        if parent is not root:
            site = span["call_site"]
            assert site["file"] == str(source_file(parent["function"])), span
            assert isinstance(site["line"], int) and site["line"] > 0
    pids = [failed_span(q999_dict, fn)["kernel"]["pid"] for fn in FAILING_CHAIN]
    assert len(set(pids)) == len(pids)  # every level in its own kernel
    args = {fn: failed_span(q999_dict, fn)["args"] for fn in FAILING_CHAIN}
    assert args == {
        "article_intro": ["Q999", "en"],
        "lifespan": ["Q999", "en"],
        "format_value": [MALFORMED, "en"],
        "format_date": [MALFORMED, "en"],
    }
    sites = {fn: failed_span(q999_dict, fn)["call_site"] for fn in FAILING_CHAIN[1:]}
    assert sites == {
        "lifespan": {
            "file": str(FUNCTIONS / "article_intro.py"),
            "line": call_line("article_intro", 'call("lifespan"'),
        },
        "format_value": {
            "file": str(FUNCTIONS / "lifespan.js"),
            "line": call_line("lifespan", "const born = call('format_value'"),
        },
        "format_date": {
            "file": str(FUNCTIONS / "format_value.py"),
            "line": call_line("format_value", 'call("format_date"'),
        },
    }


def test_session_still_works_after_a_failed_render(library, q999):
    session, _, _ = library
    assert session.last_trace is not None
    assert session.call("article_intro", "Q42", "en") == Q42_EN


# --------------------------------------------------------------------------- limits


def test_large_argument_is_a_truncation_marker_in_the_trace(library):
    session, _, _ = library
    session.define("big_fail", "def big_fail(s):\n    raise ValueError(f'got {len(s)} chars')\n")
    big = "x" * 100_000
    with pytest.raises(RenderError) as info:
        session.call("big_fail", big)
    d = info.value.trace.to_dict()
    jsonschema.Draft202012Validator(load_schema()).validate(d)
    span = failed_span(d, "big_fail")
    assert span["error"]["message"] == "got 100000 chars"  # the callee got it all
    marker = span["args"]
    assert isinstance(marker, dict) and marker["$truncated"] is True, marker
    assert set(marker) == {"$truncated", "size", "preview"}
    assert marker["size"] >= len(big)
    assert marker["preview"].startswith('["xxxx') and len(marker["preview"]) <= 1000
    assert len(info.value.trace.to_json()) < 50_000  # the trace itself stays small


def test_invalid_definitions_raise_value_error(library):
    session, _, _ = library
    with pytest.raises(ValueError) as info:
        session.define("broken", "def broken(:\n    pass\n")
    message = str(info.value)
    assert "SyntaxError" in message and "broken" in message and "line 1" in message, message
    assert "\n" not in message
    with pytest.raises(ValueError, match=r"def broken\("):
        session.define("broken", "x = 1\n")
    with pytest.raises(ValueError, match=r"def broken\(.*defines other"):
        session.define("broken", "def other():\n    return 1\n")
    with pytest.raises(ValueError, match="not a valid function name"):
        session.define("not a name", "def f():\n    return 1\n")
    # Nothing was registered, and a bad redefinition keeps the good one.
    with pytest.raises(RenderError, match="no function named 'broken'"):
        session.call("broken")
    with pytest.raises(ValueError, match="SyntaxError"):
        session.define("label", "def label(qid, lang:\n    return qid\n")
    assert session.call("label", "Q42", "en") == "Douglas Adams"


CHAIN_SOURCES = {
    "outer": "def outer(x):\n    return call('middle', x)\n",
    "middle": "def middle(x):\n    return call('leaf', x)\n",
    "leaf": (
        "def leaf(x):\n"
        "    import os, time\n"
        "    if x == 'kill':\n"
        "        os.kill(os.getpid(), 9)\n"
        "    if x == 'sleep':\n"
        "        time.sleep(30)\n"
        "    return os.getpid()\n"
    ),
}


def define_chain(session: Session) -> None:
    for name, source in CHAIN_SOURCES.items():
        session.define(name, source)


def test_kernel_killed_mid_call_at_depth_3():
    err = io.StringIO()
    with open_session(stdout=io.StringIO(), stderr=err, call_timeout=60) as session:
        define_chain(session)
        pid = session.call("outer", "ok")
        with pytest.raises(RenderError) as info:
            session.call("outer", "kill")
        trace = info.value.trace
        text = trace.to_text()
        assert "killed by signal 9 (SIGKILL)" in text, text
        assert text.splitlines()[-1].startswith(f"KernelDied: leaf [python3 pid {pid}]"), text
        d = trace.to_dict()
        jsonschema.Draft202012Validator(load_schema()).validate(d)
        span = failed_span(d, "leaf")
        assert span["kernel"]["pid"] == pid
        assert span["exit"] is not None and span["exit"]["signal"] == 9
        assert [e["function"] for e in d["stack"]] == ["outer", "middle"]
        assert failed_span(d, "middle")["error"]["propagated_from"] == span["span_id"]
        assert wait_gone([pid]) == []
        # The chain works again, with a fresh kernel for the leaf.
        new_pid = session.call("outer", "ok")
        assert isinstance(new_pid, int) and new_pid != pid


def test_call_timeout():
    with open_session(stdout=io.StringIO(), stderr=io.StringIO(), call_timeout=2) as session:
        define_chain(session)
        pid = session.call("outer", "ok")
        started = time.monotonic()
        with pytest.raises(RenderError) as info:
            session.call("outer", "sleep")
        assert time.monotonic() - started < 20  # only catches a hang, not a timing check
        text = info.value.trace.to_text()
        assert "did not return within" in text, text
        d = info.value.trace.to_dict()
        jsonschema.Draft202012Validator(load_schema()).validate(d)
        span = failed_span(d, "leaf")
        assert span["timed_out"] is True
        assert span["kernel"]["pid"] == pid
        assert failed_span(d, "middle")["error"]["propagated_from"] == span["span_id"]
        assert wait_gone([pid]) == []  # the stuck kernel was replaced
        new_pid = session.call("outer", "ok")
        assert isinstance(new_pid, int) and new_pid != pid


def test_close_ends_every_kernel():
    with open_session(stdout=io.StringIO(), stderr=io.StringIO()) as session:
        session.define("whoami", "def whoami():\n    import os\n    return os.getpid()\n")
        pid = session.call("whoami")
        assert psutil.pid_exists(pid)
    assert wait_gone([pid]) == []


# --------------------------------------------------------------------------- asyncio


async def test_async_session():
    out = io.StringIO()
    async with open_async_session(stdout=out, stderr=out, call_timeout=60) as session:
        names = await session.load_directory(str(FUNCTIONS))
        assert "article_intro" in names
        result = await asyncio.wait_for(session.call("article_intro", "Q42", "en"), timeout=120)
        assert result == Q42_EN
        with pytest.raises(RenderError) as info:
            await asyncio.wait_for(session.call("article_intro", "Q999", "en"), timeout=120)
        trace = info.value.trace
        assert trace.to_text().splitlines()[-1] == Q999_FINAL
        d = trace.to_dict()
        jsonschema.Draft202012Validator(load_schema()).validate(d)
        assert [e["function"] for e in d["stack"]] == FAILING_CHAIN
        assert session.last_trace is not None
        assert await session.call("article_intro", "Q90", "en") == Q90_EN


# --------------------------------------------------------------------------- non-JSON values


def test_non_json_argument_fails_the_call_not_the_session():
    """A Python-only value cannot cross kernels: the call fails promptly, the session lives."""
    with open_session(stdout=io.StringIO(), stderr=io.StringIO(), call_timeout=30) as session:
        session.define("echo", "def echo(x):\n    return x\n")
        result: dict = {}

        def attempt() -> None:
            try:
                result["value"] = session.call("echo", object())
            except BaseException as exc:  # noqa: BLE001 - inspected below
                result["error"] = exc

        worker = threading.Thread(target=attempt, daemon=True)
        worker.start()
        worker.join(timeout=10)
        assert not worker.is_alive(), "Session.call with a non-JSON argument hangs"
        assert isinstance(result.get("error"), TypeError | RenderError), result
        assert session.call("echo", [1, "a"]) == [1, "a"]


def test_render_timeout_ends_a_render_of_many_quick_calls() -> None:
    """Each call is quick, the render as a whole is not: the per-render timeout ends it."""
    out = io.StringIO()
    with Session(stdout=out, call_timeout=30, render_timeout=2) as s:
        s.define("tick", "def tick():\n    import time\n    time.sleep(0.05)\n    return 1\n")
        s.define("loop", "def loop():\n    while True:\n        call('tick')\n")
        with pytest.raises(RenderError) as failure:
            s.call("loop")
        text = failure.value.trace.to_text()
        assert "ran past its 2 s timeout" in text, text
        assert [sp for sp in failure.value.trace.to_dict()["spans"] if sp["timed_out"]]
        assert s.call("tick") == 1, "the next render works"


def test_session_timeouts_are_on_by_default() -> None:
    from metakernel_dbg.session import SESSION_TIMEOUTS

    with Session(stdout=io.StringIO()) as s:
        limits = s._core.engine.router.limits
        assert limits.call_timeout == SESSION_TIMEOUTS["call_timeout"] > 0
        assert limits.render_timeout == SESSION_TIMEOUTS["render_timeout"] > 0
