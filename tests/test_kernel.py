"""Acceptance tests of the `metakernel_dbg` kernel: real kernels, real ZMQ, Jupyter messages.

Most tests share one meta-kernel (``meta_kernel``, module scope) and define functions with
distinct names; tests that interrupt, shut down or exhaust it get their own kernel.
"""

from __future__ import annotations

import ast
import re
import time
from typing import Any

import psutil
import pytest
from conftest import (
    REPO,
    V5_IOPUB_TYPES,
    MetaKernelHandle,
    assert_processes_gone,
    collect_iopub,
    drain_iopub,
    errors_of,
    expect_ok,
    iopub_log,
    result_text,
    send_execute,
    shell_request,
    stream_text,
    traceback_text,
    wait_reply,
)
from jupyter_kernel_test.msgspec_v5 import validate_message

WIKI = REPO / "examples" / "wikifunctions"

INNER = """%%function inner
def inner(x):
    y = x * 2
    return y + 1
"""
OUTER = """%%function outer --kernel python3
def outer(n):
    total = 0
    for i in range(n):
        total += call("inner", i)
    return total
"""
DEFINED = re.compile(r"^(\w+) defined in kernel (\S+) \(pid (\d+)\)$", re.M)


@pytest.fixture(scope="module")
def meta_kernel_env() -> dict[str, str]:
    return {"WIKIFUNCTIONS_DATA": str(WIKI / "data" / "entities.json")}


# -- helpers ------------------------------------------------------------------------------
def ok(handle: MetaKernelHandle, code: str, timeout: float = 60) -> list[dict[str, Any]]:
    """Run a cell that must succeed; return its IOPub messages."""
    reply, msgs = handle.run(code, timeout=timeout)
    expect_ok(reply, msgs)
    return msgs


def value(handle: MetaKernelHandle, code: str, timeout: float = 60) -> Any:
    """The Python value of a cell's execute_result (its repr read back)."""
    msgs = ok(handle, code, timeout)
    text = result_text(msgs)
    assert text is not None, f"no execute_result for {code!r}: {msgs}"
    return ast.literal_eval(text)


def define(handle: MetaKernelHandle, cell: str, timeout: float = 60) -> tuple[str, str, int]:
    """Run a `%%function` cell; return (name, kernelspec, pid) from its reply stream."""
    msgs = ok(handle, cell, timeout)
    text = stream_text(msgs)
    match = DEFINED.search(text)
    assert match, f"no 'NAME defined in kernel SPEC (pid N)' line in {text!r}"
    return match.group(1), match.group(2), int(match.group(3))


def descendant_pids(handle: MetaKernelHandle) -> set[int]:
    return {p.pid for p in handle.children()}


def function_rows(handle: MetaKernelHandle) -> dict[str, tuple[str, list[str]]]:
    """`%functions` as {name: (kernelspec, [instance labels])}."""
    text = stream_text(ok(handle, "%functions"))
    rows: dict[str, tuple[str, list[str]]] = {}
    for line in text.splitlines():
        parts = line.split(None, 2)
        if len(parts) == 3:
            name, spec, rest = parts
            rows[name] = (spec, re.findall(r"\w+ \[\S+ pid \d+\]", rest))
    return rows


def final_line(text: str) -> str:
    return [ln for ln in text.splitlines() if ln.strip()][-1].strip()


def error_text(reply: dict[str, Any], msgs: list[dict[str, Any]]) -> str:
    parts = [str(reply.get("ename")), str(reply.get("evalue"))]
    parts += [traceback_text(e) for e in errors_of(msgs)]
    return "\n".join(parts)


# -- 1. kernel_info -----------------------------------------------------------------------
def test_kernel_info(meta_kernel: MetaKernelHandle) -> None:
    reply = shell_request(meta_kernel.kc, "kernel_info")
    validate_message(reply, "kernel_info_reply")
    content = reply["content"]
    assert content["status"] == "ok"
    assert re.fullmatch(r"5\.\d+", content["protocol_version"]), content["protocol_version"]
    assert content["implementation"] == "metakernel_dbg"
    assert content["language_info"]["name"] == "python"
    assert content["language_info"]["file_extension"] == ".py"
    # the debug proxy serves every debug_request, so the kernel claims the debugger
    assert "debugger" in content.get("supported_features", [])


# -- 2. the example session -----------------------------------------------------------------
def test_define_and_call_across_kernels(meta_kernel: MetaKernelHandle) -> None:
    kc = meta_kernel.kc
    drain_iopub(kc, quiet=0.3)
    log_start = len(iopub_log(kc))
    requests: list[str] = []
    counts: list[int] = []

    for cell, name in ((INNER, "inner"), (OUTER, "outer")):
        reply, msgs = meta_kernel.run(cell)
        expect_ok(reply, msgs)
        requests.append(msgs[0]["parent_header"]["msg_id"])
        counts.append(reply["execution_count"])
        match = DEFINED.fullmatch(stream_text(msgs).strip())
        assert match, stream_text(msgs)
        assert match.group(1) == name
        assert match.group(2) == "python3"
        pid = int(match.group(3))
        assert psutil.pid_exists(pid)
        assert pid in descendant_pids(meta_kernel), "the function kernel is not ours"
        assert psutil.Process(pid).status() != psutil.STATUS_ZOMBIE

    code = 'result = call("outer", 3)\nresult'
    reply, msgs = meta_kernel.run(code)
    expect_ok(reply, msgs)
    requests.append(msgs[0]["parent_header"]["msg_id"])
    counts.append(reply["execution_count"])
    assert counts == [counts[0], counts[0] + 1, counts[0] + 2], counts

    # busy first, idle last, parented to the request; execute_input echoes the cell
    assert msgs[0]["msg_type"] == "status"
    assert msgs[0]["content"]["execution_state"] == "busy"
    assert msgs[-1]["msg_type"] == "status"
    assert msgs[-1]["content"]["execution_state"] == "idle"
    inputs = [m for m in msgs if m["msg_type"] == "execute_input"]
    assert [m["content"]["code"] for m in inputs] == [code]
    assert inputs[0]["content"]["execution_count"] == reply["execution_count"]
    results = [m for m in msgs if m["msg_type"] == "execute_result"]
    assert len(results) == 1
    assert results[0]["content"]["data"]["text/plain"] == "9"
    assert results[0]["content"]["execution_count"] == reply["execution_count"]
    assert not errors_of(msgs)

    # nothing else reaches the client: no welcome, no child status/noise
    drain_iopub(kc, quiet=1.0)
    seen = iopub_log(kc)[log_start:]
    for msg in seen:
        assert msg["msg_type"] != "iopub_welcome", msg
        assert msg["msg_type"] in V5_IOPUB_TYPES, msg
        assert msg["parent_header"].get("msg_id") in requests, (
            f"IOPub message not parented to one of our requests: {msg['msg_type']} "
            f"{msg['content']} parent={msg['parent_header']}"
        )
        validate_message(msg, msg["msg_type"])
    for msg_id in requests:
        states = [
            m["content"]["execution_state"]
            for m in seen
            if m["msg_type"] == "status" and m["parent_header"]["msg_id"] == msg_id
        ]
        assert states == ["busy", "idle"], (msg_id, states)


@pytest.fixture(scope="module")
def inner_outer(meta_kernel: MetaKernelHandle) -> MetaKernelHandle:
    """`inner` and `outer` defined (again: redefinition is cheap and idempotent)."""
    define(meta_kernel, INNER)
    define(meta_kernel, OUTER)
    return meta_kernel


# -- 3. output order across kernels -------------------------------------------------------
def test_stdout_and_stderr_in_program_order(meta_kernel: MetaKernelHandle) -> None:
    define(
        meta_kernel,
        """%%function chatty_callee
def chatty_callee(x):
    import sys
    print("callee", x)
    print("callee-err", x, file=sys.stderr)
    return x * 2
""",
    )
    define(
        meta_kernel,
        """%%function chatty
def chatty(x):
    import sys
    print("chatty before", x)
    print("chatty-err before", x, file=sys.stderr)
    y = call("chatty_callee", x)
    print("chatty after", y)
    print("chatty-err after", y, file=sys.stderr)
    return y + 1
""",
    )
    msgs = ok(
        meta_kernel,
        """import sys
for i in range(3):
    print("main before", i)
    print("main-err before", i, file=sys.stderr)
    r = call("chatty", i)
    print("main after", r)
    print("main-err after", r, file=sys.stderr)
""",
    )
    out = err = ""
    for i in range(3):
        out += f"main before {i}\nchatty before {i}\ncallee {i}\n"
        out += f"chatty after {2 * i}\nmain after {2 * i + 1}\n"
        err += f"main-err before {i}\nchatty-err before {i}\ncallee-err {i}\n"
        err += f"chatty-err after {2 * i}\nmain-err after {2 * i + 1}\n"
    assert stream_text(msgs, "stdout") == out
    assert stream_text(msgs, "stderr") == err


# -- 4. errors across kernels ---------------------------------------------------------------
def test_error_three_levels_deep(meta_kernel: MetaKernelHandle) -> None:
    _, _, pid_c = define(meta_kernel, "%%function c\ndef c():\n    return 1 / 0\n")
    _, _, pid_b = define(meta_kernel, '%%function b\ndef b():\n    return call("c") + 1\n')
    _, _, pid_a = define(
        meta_kernel, '%%function a --kernel python3\ndef a():\n    return call("b") + 1\n'
    )
    main_pid = value(meta_kernel, "import os\nos.getpid()")
    assert main_pid in descendant_pids(meta_kernel)

    reply, msgs = meta_kernel.run('x = call("a")')
    assert reply["status"] == "error"
    assert reply["ename"] == "ZeroDivisionError"  # the callee's type, as in one process
    errors = errors_of(msgs)
    assert len(errors) == 1, [e["content"]["ename"] for e in errors]
    assert errors[0]["content"]["ename"] == "ZeroDivisionError"
    assert errors[0]["content"]["evalue"] == "division by zero"
    text = traceback_text(errors[0])

    lines = text.splitlines()
    frame_lines = [i for i, ln in enumerate(lines) if ln.lstrip().startswith("File ")]
    frames = [lines[i].rsplit(", in ", 1)[-1].strip() for i in frame_lines]
    assert frames == ["<module>", "a", "b", "c"], text

    # one separator per kernel hop, naming the function, its kernelspec and pid
    seps = []
    for fn, pid in (("<module>", main_pid), ("a", pid_a), ("b", pid_b), ("c", pid_c)):
        pattern = re.compile(rf"(?<![\w<]){re.escape(fn)}(?![\w>]).*\bpython3\b.*\b{pid}\b")
        found = [
            i
            for i, ln in enumerate(lines)
            if pattern.search(ln) and not ln.lstrip().startswith("File ")
        ]
        assert found, f"no separator for {fn} [python3 pid {pid}] in:\n{text}"
        seps.append(found[0])
    assert seps == sorted(seps), text
    # each hop's separator comes before that hop's frame
    assert all(s < f for s, f in zip(seps, frame_lines, strict=True)), text
    assert final_line(text) == "ZeroDivisionError: division by zero", text

    # the failure is an ordinary exception for a caller that catches it
    define(
        meta_kernel,
        """%%function catcher
def catcher():
    try:
        call("c")
    except ZeroDivisionError as e:
        return type(e).__name__ + ": " + str(e)
""",
    )
    caught = value(meta_kernel, 'call("catcher")')
    assert caught == "ZeroDivisionError: division by zero"
    # the main kernel is still fine
    assert value(meta_kernel, "1 + 1") == 2


# -- 5. call errors -----------------------------------------------------------------------
def test_unknown_function_lists_known_ones(inner_outer: MetaKernelHandle) -> None:
    reply, msgs = inner_outer.run('call("no_such_function", 1)')
    assert reply["status"] == "error"
    assert reply["ename"] == "UnknownFunctionError"
    assert len(errors_of(msgs)) == 1
    assert "no_such_function" in reply["evalue"]
    assert "inner" in reply["evalue"] and "outer" in reply["evalue"], reply["evalue"]
    caught = value(
        inner_outer,
        'try:\n    call("no_such_function")\nexcept LookupError as e:\n'
        "    caught = type(e).__name__\ncaught",
    )
    assert caught == "UnknownFunctionError"


def test_non_json_argument_fails_at_call_site(inner_outer: MetaKernelHandle) -> None:
    code = 'call("inner", {1, 2})'
    reply, msgs = inner_outer.run(code)
    assert reply["status"] == "error"
    assert reply["ename"] == "CallArgumentError"
    assert len(errors_of(msgs)) == 1
    assert code in traceback_text(errors_of(msgs)[0]), "the error should point at the call"

    caught = value(
        inner_outer,
        'try:\n    call("inner", {1, 2})\nexcept TypeError as e:\n'
        "    caught = type(e).__name__\ncaught",
    )
    assert caught == "CallArgumentError"

    # in a function kernel, the error is raised at the call there (catchable as TypeError)
    define(
        inner_outer,
        """%%function bad_args
def bad_args():
    try:
        call("inner", {1, 2})
    except TypeError as e:
        return type(e).__name__
""",
    )
    assert value(inner_outer, 'call("bad_args")') == "CallArgumentError"

    # a result that is not JSON fails the call too, without breaking the callee
    define(inner_outer, "%%function bad_result\ndef bad_result():\n    return {1, 2}\n")
    reply, msgs = inner_outer.run('call("bad_result")')
    assert reply["status"] == "error"
    assert "CallArgumentError" in error_text(reply, msgs)
    assert value(inner_outer, 'call("inner", 4)') == 9


def test_recursion_across_kernels_gets_new_instances(meta_kernel: MetaKernelHandle) -> None:
    define(
        meta_kernel,
        '%%function ping\ndef ping(n):\n    return n if n == 0 else call("pong", n - 1)\n',
    )
    define(
        meta_kernel,
        '%%function pong\ndef pong(n):\n    return n if n == 0 else call("ping", n - 1)\n',
    )
    assert value(meta_kernel, 'call("ping", 3)', timeout=120) == 0
    rows = function_rows(meta_kernel)
    spec, instances = rows["ping"]
    assert spec == "python3"
    assert len(instances) >= 2, rows["ping"]
    pids = {int(re.search(r"pid (\d+)", i).group(1)) for i in instances}  # type: ignore[union-attr]
    assert len(pids) == len(instances)
    assert pids <= descendant_pids(meta_kernel)
    # the instances stay usable
    assert value(meta_kernel, 'call("ping", 4)', timeout=120) == 0


def test_depth_limit(fresh_meta_kernel: MetaKernelHandle) -> None:
    mk = fresh_meta_kernel
    define(mk, '%%function rec\ndef rec(n):\n    return call("rec", n + 1)\n')
    reply, msgs = mk.run('call("rec", 0)', timeout=280)
    assert reply["status"] == "error"
    assert len(errors_of(msgs)) == 1
    text = error_text(reply, msgs)
    assert re.search(r"depth limit\D{0,20}32", text), text
    assert "KernelDied" not in text and "unreachable" not in text, text
    assert value(mk, "1 + 1") == 2


# -- 6. definitions -----------------------------------------------------------------------
def test_redefinition_replaces_for_later_calls(meta_kernel: MetaKernelHandle) -> None:
    define(meta_kernel, '%%function redef\ndef redef():\n    return "v1"\n')
    define(meta_kernel, '%%function redef_caller\ndef redef_caller():\n    return call("redef")\n')
    assert value(meta_kernel, 'call("redef")') == "v1"
    assert value(meta_kernel, 'call("redef_caller")') == "v1"

    _, _, pid = define(meta_kernel, '%%function redef\ndef redef():\n    return "v2"\n')
    old_kernel = psutil.Process(pid)
    assert value(meta_kernel, 'call("redef")') == "v2"
    assert value(meta_kernel, 'call("redef_caller")') == "v2"

    # moving it to another kernelspec replaces its kernel
    _, spec, new_pid = define(
        meta_kernel, '%%function redef --kernel xpython\ndef redef():\n    return "v3"\n'
    )
    assert spec == "xpython" and new_pid != pid
    assert value(meta_kernel, 'call("redef_caller")') == "v3"
    assert function_rows(meta_kernel)["redef"][0] == "xpython"
    assert_processes_gone([old_kernel])


def test_bad_definitions_are_cell_errors(meta_kernel: MetaKernelHandle) -> None:
    reply, msgs = meta_kernel.run("%%function broken\ndef broken(:\n    return 1\n")
    assert reply["status"] == "error"
    assert reply["ename"] == "SyntaxError"
    errors = errors_of(msgs)
    assert len(errors) == 1 and errors[0]["content"]["ename"] == "SyntaxError"

    reply, msgs = meta_kernel.run("%%function nodef\ndef something_else():\n    return 1\n")
    assert reply["status"] == "error"
    assert reply["ename"] == "DefinitionError"
    assert "nodef" in reply["evalue"]
    assert len(errors_of(msgs)) == 1

    rows = function_rows(meta_kernel)
    assert "broken" not in rows and "nodef" not in rows
    reply, _ = meta_kernel.run('call("nodef")')
    assert reply["ename"] == "UnknownFunctionError"


def test_functions_magic(inner_outer: MetaKernelHandle) -> None:
    rows = function_rows(inner_outer)
    for name in ("inner", "outer"):
        spec, instances = rows[name]
        assert spec == "python3"
        assert instances, rows[name]
        label = re.fullmatch(rf"{name} \[python3 pid (\d+)\]", instances[0])
        assert label, instances
        assert int(label.group(1)) in descendant_pids(inner_outer)


def test_load_functions_wikifunctions(meta_kernel: MetaKernelHandle) -> None:
    msgs = ok(meta_kernel, f"%load_functions {'examples/wikifunctions/functions'}", timeout=180)
    defined = {m.group(1): m.group(2) for m in DEFINED.finditer(stream_text(msgs))}
    files = [*(WIKI / "functions").glob("*.py"), *(WIKI / "functions").glob("*.js")]
    assert set(defined) == {p.stem for p in files if not p.stem.startswith("_")}
    assert defined["format_quantity"] == "xpython"
    assert defined["format_date"] == defined["lifespan"] == "metakernel_dbg_js"

    intro = value(meta_kernel, 'call("article_intro", "Q42", "en")')
    assert intro == "Douglas Adams (11 March 1952 – 11 May 2001) was a British writer."
    paris = value(meta_kernel, 'call("article_intro", "Q90", "en")')
    assert paris == "Paris is a city in France with a population of 2,145,906."

    spec, instances = function_rows(meta_kernel)["format_quantity"]
    assert spec == "xpython"
    assert instances and all("[xpython pid " in i for i in instances), instances

    # the documented failure: three calls below article_intro, one merged traceback
    reply, msgs = meta_kernel.run('call("article_intro", "Q999", "en")')
    assert reply["status"] == "error"
    errors = errors_of(msgs)
    assert len(errors) == 1
    text = traceback_text(errors[0])
    assert final_line(text) == "TypeError: Cannot read properties of undefined (reading 'split')"
    frames = [ln.rsplit(", in ", 1)[-1] for ln in text.splitlines() if ", in " in ln]
    chain = [f for f in frames if f in ("article_intro", "lifespan", "format_value", "format_date")]
    assert chain == ["article_intro", "lifespan", "format_value", "format_date"], text


def test_python3_xpython_python3_chain(inner_outer: MetaKernelHandle) -> None:
    name, spec, xpid = define(
        inner_outer,
        """%%function xq --kernel xpython
def xq(n):
    print("xq got", n)
    return call("inner", n) * 10
""",
    )
    assert (name, spec) == ("xq", "xpython")
    assert "xpython" in " ".join(psutil.Process(xpid).cmdline())
    define(inner_outer, '%%function py_to_xq\ndef py_to_xq(n):\n    return call("xq", n) + 1\n')
    msgs = ok(inner_outer, 'call("py_to_xq", 4)')
    assert result_text(msgs) == "91"  # inner(4) = 9 -> 90 -> 91
    assert stream_text(msgs) == "xq got 4\n"
    # and xpython is also called from main directly
    assert value(inner_outer, 'call("xq", 1)') == 30


# -- 7. stdin -----------------------------------------------------------------------------
def test_input_from_main_cell(meta_kernel: MetaKernelHandle) -> None:
    kc = meta_kernel.kc
    msg_id = send_execute(kc, 'x = input("name? ")\nprint("hello", x)', allow_stdin=True)
    request = kc.get_stdin_msg(timeout=30)
    assert request["msg_type"] == "input_request"
    assert request["parent_header"]["msg_id"] == msg_id
    assert request["content"]["prompt"] == "name? "
    assert request["content"]["password"] is False
    kc.input("bob")
    reply = wait_reply(kc, msg_id, timeout=30)
    msgs = collect_iopub(kc, msg_id, timeout=30)
    expect_ok(reply["content"], msgs)
    assert stream_text(msgs) == "hello bob\n"
    assert value(meta_kernel, "x") == "bob"


# -- 8. relayed shell requests --------------------------------------------------------------
def test_complete_inspect_is_complete_history(meta_kernel: MetaKernelHandle) -> None:
    kc = meta_kernel.kc
    ok(meta_kernel, "import os\n_history_marker = 12321")

    text = "import os\nos.pa"
    reply = shell_request(kc, "complete", text)
    validate_message(reply, "complete_reply")
    content = reply["content"]
    assert content["status"] == "ok"
    # matches replace text[cursor_start:cursor_end] (IPython may send "path" for "pa")
    start, end = content["cursor_start"], content["cursor_end"]
    completed = [text[:start] + match + text[end:] for match in content["matches"]]
    assert "import os\nos.path" in completed, content

    reply = shell_request(kc, "inspect", "print")
    validate_message(reply, "inspect_reply")
    assert reply["content"]["status"] == "ok"
    assert reply["content"]["found"] is True
    assert "text/plain" in reply["content"]["data"]

    reply = shell_request(kc, "is_complete", "def f():")
    validate_message(reply, "is_complete_reply")
    assert reply["content"]["status"] == "incomplete"
    assert reply["content"]["indent"].strip() == "" and reply["content"]["indent"]
    reply = shell_request(kc, "is_complete", "1+1")
    assert reply["content"]["status"] == "complete"

    reply = shell_request(kc, "history", hist_access_type="tail", n=10, raw=True, output=False)
    validate_message(reply, "history_reply")
    assert reply["content"]["status"] == "ok"
    history = reply["content"]["history"]
    assert history
    assert "import os\n_history_marker = 12321" in [h[2] for h in history], history


# -- 9. interrupt -------------------------------------------------------------------------
def test_interrupt_three_level_chain(fresh_meta_kernel: MetaKernelHandle) -> None:
    mk = fresh_meta_kernel
    define(
        mk,
        """%%function slow_b
def slow_b(secs):
    import time
    print("slow_b sleeping", secs, flush=True)
    time.sleep(secs)
    return secs
""",
    )
    define(mk, '%%function slow_a\ndef slow_a(secs):\n    return call("slow_b", secs) + 1\n')
    assert value(mk, 'call("slow_a", 0)') == 1
    kernels = mk.children()

    msg_id = send_execute(mk.kc, 'r = call("slow_a", 30)')
    collect_iopub(
        mk.kc,
        msg_id,
        timeout=60,
        until=lambda m: m["msg_type"] == "stream" and "slow_b sleeping" in m["content"]["text"],
    )
    start = time.monotonic()
    mk.km.interrupt_kernel()
    reply = wait_reply(mk.kc, msg_id, timeout=5)
    print(f"\ninterrupt answered after {time.monotonic() - start:.2f} s")
    msgs = collect_iopub(mk.kc, msg_id, timeout=10)
    assert reply["content"]["status"] == "error"
    assert "KeyboardInterrupt" in error_text(reply["content"], msgs)
    assert len(errors_of(msgs)) == 1

    # every kernel survived and the chain works again
    assert all(p.is_running() for p in kernels)
    assert value(mk, 'call("slow_a", 0)', timeout=30) == 1
    assert value(mk, 'call("slow_b", 0)', timeout=30) == 0
    assert value(mk, "1 + 1") == 2


# -- 10. shutdown -------------------------------------------------------------------------
@pytest.mark.parametrize("now", [False, True], ids=["graceful", "now"])
def test_shutdown_leaves_no_process(meta_kernel_factory: Any, now: bool) -> None:
    mk = meta_kernel_factory()
    define(mk, "%%function sd_one\ndef sd_one():\n    return 1\n")
    define(mk, '%%function sd_two --kernel xpython\ndef sd_two():\n    return call("sd_one") + 1\n')
    assert value(mk, 'call("sd_two")') == 2
    procs = mk.children()
    assert len(procs) >= 3, procs  # main + two function kernels
    assert mk.process is not None
    mk.kc.stop_channels()
    mk.km.shutdown_kernel(now=now)
    assert_processes_gone([mk.process, *procs], timeout=10)


# -- comms ----------------------------------------------------------------------------------
def test_comms_are_relayed_to_the_main_kernel(meta_kernel: MetaKernelHandle) -> None:
    kc = meta_kernel.kc
    ok(
        meta_kernel,
        """
def _echo_target(comm, open_msg):
    @comm.on_msg
    def _echo(msg):
        comm.send({"echo": msg["content"]["data"]["value"]})
    comm.send({"opened": open_msg["content"]["data"]["hello"]})

get_ipython().kernel.comm_manager.register_target("echo", _echo_target)
""",
    )
    info = shell_request(kc, "comm_info", "echo")
    assert info["content"]["status"] == "ok"
    drain_iopub(kc, quiet=0.3)
    comm_id = "c0ffee"
    opened = kc.session.msg(
        "comm_open", {"comm_id": comm_id, "target_name": "echo", "data": {"hello": "there"}}
    )
    kc.shell_channel.send(opened)
    message = kc.session.msg("comm_msg", {"comm_id": comm_id, "data": {"value": 41}})
    kc.shell_channel.send(message)
    got = []
    deadline = time.monotonic() + 30
    while len(got) < 2 and time.monotonic() < deadline:
        msg = kc.get_iopub_msg(timeout=max(0.01, deadline - time.monotonic()))
        if msg["header"]["msg_type"] == "comm_msg":
            got.append(msg)
    assert [m["content"]["data"] for m in got] == [{"opened": "there"}, {"echo": 41}]
    assert all(m["content"]["comm_id"] == comm_id for m in got)
    assert got[1]["parent_header"]["msg_id"] == message["header"]["msg_id"], "parent rewritten"
    info = shell_request(kc, "comm_info", "echo")
    assert comm_id in info["content"]["comms"]
