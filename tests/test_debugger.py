"""Headless DAP tests: the requests JupyterLab sends, over real ZMQ, to a real meta-kernel
whose call chain spans three kernels (main -> outer -> inner)."""

from __future__ import annotations

import contextlib
import os
import queue
import signal
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from conftest import start_ipc_kernel

from metakernel_dbg.debug.dapcore import jupyterlab_initialize

INNER = "%%function inner\ndef inner(x):\n    y = x * 2\n    return y + 1"
OUTER = (
    "%%function outer --kernel python3\ndef outer(n):\n    total = 0\n"
    '    for i in range(n):\n        total += call("inner", i)\n    return total'
)
RENDER = 'result = call("outer", 3)\nresult'
INITIALIZE = jupyterlab_initialize("metakernel_dbg")


class DapClient:
    """A JupyterLab-like client: debug_request on control, debug_event from IOPub."""

    def __init__(self, kc: Any) -> None:
        self.kc = kc
        self.seq = 0
        self.events: queue.Queue[dict[str, Any]] = queue.Queue()
        self.iopub: queue.Queue[dict[str, Any]] = queue.Queue()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._pump, daemon=True)
        self._thread.start()

    def _pump(self) -> None:
        while not self._stop.is_set():
            try:
                msg = self.kc.get_iopub_msg(timeout=0.1)
            except (queue.Empty, AssertionError):
                continue
            target = self.events if msg["header"]["msg_type"] == "debug_event" else self.iopub
            target.put(msg["content"] if target is self.events else msg)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def request(self, command: str, arguments: dict | None = None, timeout: float = 30) -> dict:
        self.seq += 1
        content: dict[str, Any] = {"type": "request", "seq": self.seq, "command": command}
        if arguments is not None:
            content["arguments"] = arguments
        return self.raw(content, timeout)

    def raw(self, content: Any, timeout: float = 30) -> dict:
        msg = self.kc.session.msg("debug_request", content)
        self.kc.control_channel.send(msg)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            reply = self.kc.control_channel.get_msg(timeout=timeout)
            if reply["parent_header"].get("msg_id") == msg["header"]["msg_id"]:
                return reply["content"]
        raise TimeoutError(f"no debug_reply to {content!r}")

    def wait_event(self, name: str, timeout: float = 30) -> list[dict]:
        """Events up to and including the next `name` event."""
        seen = []
        deadline = time.monotonic() + timeout
        while True:
            event = self.events.get(timeout=max(0.01, deadline - time.monotonic()))
            seen.append(event)
            if event["event"] == name:
                return seen

    def ok(self, command: str, arguments: dict) -> dict:
        """The body of a request that must succeed (its message if it did not)."""
        reply = self.request(command, arguments)
        assert reply["success"], f"{command} {arguments}: {reply.get('message')}"
        return reply["body"]

    def frames(self) -> list[dict]:
        return self.ok("stackTrace", {"threadId": 1})["stackFrames"]

    def variables(self, frame_id: int) -> dict[str, str]:
        scopes = self.ok("scopes", {"frameId": frame_id})["scopes"]
        body = self.ok("variables", {"variablesReference": scopes[0]["variablesReference"]})
        return {v["name"]: v["value"] for v in body["variables"]}

    def execute(self, code: str) -> str:
        msg_id = self.kc.execute(code)
        return msg_id

    def reply(self, msg_id: str, timeout: float = 60) -> dict:
        while True:
            msg = self.kc.get_shell_msg(timeout=timeout)
            if msg["parent_header"].get("msg_id") == msg_id:
                return msg["content"]


@contextlib.contextmanager
def dap_session() -> Iterator[DapClient]:
    """A fresh meta-kernel and a DAP client on it; both ended however the test ends."""
    km, kc = start_ipc_kernel("metakernel_dbg")
    client = DapClient(kc)
    try:
        yield client
    finally:
        client.close()
        kc.stop_channels()
        km.shutdown_kernel(now=True)


@pytest.fixture
def dap() -> Iterator[DapClient]:
    with dap_session() as client:
        yield client


def start_and_define(dap: DapClient, breakpoint_cell: str, line: int) -> str:
    """JupyterLab's enable + gutter click sequence, then run the two definition cells."""
    assert dap.request("debugInfo")["body"]["isStarted"] is False
    assert dap.request("initialize", INITIALIZE)["success"] is True
    assert dap.request("attach", {})["success"] is True
    path = dap.request("dumpCell", {"code": breakpoint_cell})["body"]["sourcePath"]
    reply = dap.request(
        "setBreakpoints",
        {"breakpoints": [{"line": line}], "source": {"path": path}, "sourceModified": False},
    )
    assert reply["body"]["breakpoints"][0]["verified"] is True
    for cell in (INNER, OUTER):
        assert dap.reply(dap.execute(cell))["status"] == "ok"
    return path


def test_kernel_info_advertises_debugger(dap: DapClient) -> None:
    dap.kc.kernel_info()
    reply = dap.kc.get_shell_msg(timeout=30)
    assert "debugger" in reply["content"]["supported_features"]


def test_breakpoint_in_inner_shows_merged_stack_variables_and_evaluate(dap: DapClient) -> None:
    path = start_and_define(dap, INNER, 4)
    info = dap.request("debugInfo")["body"]
    assert "ipykernel_" in info["tmpFilePrefix"] and info["breakpoints"][0]["source"] == path
    render = dap.execute(RENDER)
    events = dap.wait_event("stopped")
    assert events[-1]["body"]["threadId"] == 1

    frames = dap.frames()
    names = [f["name"] for f in frames]
    assert [n.split()[0] for n in names] == ["inner", "outer", "<module>"]
    assert "[python3 pid" in names[0] and "[python3 pid" in names[1] and "[main pid" in names[2]
    assert names[0].split("pid")[1] != names[1].split("pid")[1], "two different kernels"
    assert [f["line"] for f in frames] == [4, 5, 1]
    assert frames[0]["source"]["path"] == path
    assert len({f["id"] for f in frames}) == 3
    assert dap.frames() == frames, "ids are stable while stopped"

    assert dap.variables(frames[0]["id"]) == {"x": "0", "y": "0"}
    assert dap.variables(frames[1]["id"]) == {"i": "0", "n": "3", "total": "0"}
    caller = dap.request(
        "evaluate", {"expression": "total + n * 100", "frameId": frames[1]["id"], "context": "repl"}
    )
    assert caller["body"]["result"] == "300"
    stopped = dap.request(
        "evaluate", {"expression": "y + 41", "frameId": frames[0]["id"], "context": "repl"}
    )
    assert stopped["body"]["result"] == "41"
    source = dap.request("source", {"source": {"path": path}, "sourceReference": 0})
    assert source["body"]["content"] == INNER

    # second hit: `continued` must precede the next `stopped`
    assert dap.request("continue", {"threadId": 1})["success"] is True
    names = [e["event"] for e in dap.wait_event("stopped")]
    assert names.index("continued") < names.index("stopped")
    # this call went straight from outer's kernel to inner's (a link): the same merged view
    frames = dap.frames()
    assert [(f["name"].split()[0], f["line"]) for f in frames] == [
        ("inner", 4),
        ("outer", 5),
        ("<module>", 1),
    ]
    assert dap.variables(frames[0]["id"]) == {"x": "1", "y": "2"}
    assert dap.variables(frames[1]["id"]) == {"i": "1", "n": "3", "total": "1"}

    dap.request(
        "setBreakpoints", {"breakpoints": [], "source": {"path": path}, "sourceModified": False}
    )
    dap.request("continue", {"threadId": 1})
    assert dap.reply(render)["status"] == "ok"
    results = []
    while not dap.iopub.empty():
        msg = dap.iopub.get()
        if msg["header"]["msg_type"] == "execute_result":
            results.append(msg["content"]["data"]["text/plain"])
    assert results == ["9"]


def test_step_in_and_out_cross_kernels(dap: DapClient) -> None:
    start_and_define(dap, OUTER, 5)
    render = dap.execute(RENDER)
    dap.wait_event("stopped")
    assert [(f["name"].split()[0], f["line"]) for f in dap.frames()] == [
        ("outer", 5),
        ("<module>", 1),
    ]

    dap.request("stepIn", {"threadId": 1})
    dap.wait_event("stopped")
    assert [(f["name"].split()[0], f["line"]) for f in dap.frames()][:2] == [
        ("inner", 3),
        ("outer", 5),
    ], "stepIn on a call line stops at the callee's first line"

    dap.request("next", {"threadId": 1})
    dap.wait_event("stopped")
    assert dap.frames()[0]["line"] == 4

    dap.request("next", {"threadId": 1})
    dap.wait_event("stopped")
    top = dap.frames()[0]
    assert (top["name"].split()[0], top["line"]) == ("outer", 5), "stepping off the callee's "
    "return stops in the caller at the call"

    # the next iteration's call is linked (kernel to kernel): stepIn crosses it the same way
    dap.request("continue", {"threadId": 1})
    dap.wait_event("stopped")
    assert dap.variables(dap.frames()[0]["id"])["i"] == "1"
    dap.request("stepIn", {"threadId": 1})
    dap.wait_event("stopped")
    assert [(f["name"].split()[0], f["line"]) for f in dap.frames()][:2] == [
        ("inner", 3),
        ("outer", 5),
    ]

    path = dap.request("dumpCell", {"code": OUTER})["body"]["sourcePath"]
    dap.request(
        "setBreakpoints", {"breakpoints": [], "source": {"path": path}, "sourceModified": False}
    )
    dap.request("continue", {"threadId": 1})
    assert dap.reply(render)["status"] == "ok"


def test_a_child_whose_debugpy_port_was_taken_gets_another(dap: DapClient) -> None:
    """ipykernel binds a random port, releases it, then has debugpy listen there: another
    process can take it in between. The proxy makes the child forget the port and retries."""
    busy = socket.socket()
    busy.bind(("127.0.0.1", 0))
    busy.listen()
    try:
        port = busy.getsockname()[1]
        cell = f"get_ipython().kernel.debugger.debugpy_client.debugpy_port = '{port}'"
        assert dap.reply(dap.execute(cell))["status"] == "ok"  # plain cells run in main
        path = start_and_define(dap, INNER, 4)  # initialize and attach succeed in it
        render = dap.execute(RENDER)
        dap.wait_event("stopped")
        names = [f["name"].split()[0] for f in dap.frames()]
        assert names == ["inner", "outer", "<module>"], "main's debugger runs on another port"
        dap.request(
            "setBreakpoints", {"breakpoints": [], "source": {"path": path}, "sourceModified": False}
        )
        dap.request("continue", {"threadId": 1})
        assert dap.reply(render)["status"] == "ok"
    finally:
        busy.close()


def test_malformed_requests_get_error_replies_and_kernel_keeps_working(dap: DapClient) -> None:
    bad = [
        {"type": "request", "seq": 1, "command": "bogus"},
        {"type": "request", "seq": 2, "command": "scopes", "arguments": {"frameId": "x"}},
        {"type": "request", "seq": 3, "command": "scopes", "arguments": {"frameId": 424242}},
        {"type": "request", "seq": 4, "command": "variables", "arguments": {}},
        {"type": "request", "seq": 5, "command": "continue", "arguments": {"threadId": 1}},
        {"type": "request", "seq": "six", "command": "debugInfo"},
    ]
    for content in bad:
        reply = dap.raw(content)
        assert reply["success"] is False and reply["message"], content
    assert dap.request("debugInfo")["success"] is True
    assert dap.reply(dap.execute("1 + 1"))["status"] == "ok"


TRACED = (  # a debugger traces with sys.settrace (Python 3.11) or sys.monitoring (3.12+)
    "%%function traced\ndef traced():\n    import sys, threading\n"
    "    monitoring = getattr(sys, 'monitoring', None)\n"
    "    tool = monitoring and monitoring.get_tool(monitoring.DEBUGGER_ID)\n"
    "    return sys.gettrace() is not None or threading.gettrace() is not None or bool(tool)"
)


def test_debugger_costs_nothing_until_initialize(dap: DapClient) -> None:
    assert dap.reply(dap.execute(TRACED))["status"] == "ok"
    before = dap.reply(dap.execute('assert call("traced") is False'))
    assert before["status"] == "ok", "no tracing in children before initialize"
    dap.request("initialize", INITIALIZE)
    dap.request("attach", {})
    after = dap.reply(dap.execute('assert call("traced") is True'))
    assert after["status"] == "ok", "children run under the debugger once it is on"
    fresh = TRACED.replace("traced", "traced2")
    assert dap.reply(dap.execute(fresh))["status"] == "ok"
    new = dap.reply(dap.execute('assert call("traced2") is True'))
    assert new["status"] == "ok", "a kernel started while debugging gets the debugger"
    assert dap.request("disconnect", {"restart": False})["success"] is True
    assert dap.reply(dap.execute('call("traced2")'))["status"] == "ok", "usable after disconnect"


SPIN = (
    "%%function spin\ndef spin():\n    print('spinning', flush=True)\n    i = 0\n"
    "    while i >= 0:\n        i += 1\n    return i"
)


def test_pause_stops_the_running_chain_with_the_merged_stack(dap: DapClient) -> None:
    dap.request("initialize", INITIALIZE)
    dap.request("attach", {})
    for cell in (SPIN, '%%function relay\ndef relay():\n    return call("spin")'):
        assert dap.reply(dap.execute(cell))["status"] == "ok"
    render = dap.execute('call("relay")')
    deadline = time.monotonic() + 60
    while True:  # the callee's own output: it is running
        msg = dap.iopub.get(timeout=max(0.01, deadline - time.monotonic()))
        if msg["header"]["msg_type"] == "stream" and "spinning" in msg["content"]["text"]:
            break
    assert dap.request("pause", {"threadId": 1})["success"] is True
    stopped = dap.wait_event("stopped")[-1]
    assert stopped["body"]["reason"] == "pause"
    frames = dap.frames()
    assert [f["name"].split()[0] for f in frames] == ["spin", "relay", "<module>"]
    assert frames[0]["line"] in (5, 6)
    dap.request(
        "evaluate", {"expression": "i = -10", "frameId": frames[0]["id"], "context": "repl"}
    )
    dap.request("continue", {"threadId": 1})
    reply = dap.reply(render)
    assert reply["status"] == "ok", reply


FAILING = (
    "%%function fails\ndef fails(x):\n    ratio = 1 / x\n    return ratio",
    '%%function calls_fails\ndef calls_fails(x):\n    return call("fails", x)',
)


def test_pause_on_exceptions_stops_in_the_raising_kernel(dap: DapClient) -> None:
    dap.request("initialize", INITIALIZE)
    dap.request("attach", {})
    for cell in FAILING:
        assert dap.reply(dap.execute(cell))["status"] == "ok"
    assert dap.request("setExceptionBreakpoints", {"filters": ["userUnhandled"]})["success"]
    render = dap.execute('call("calls_fails", 0)')
    stopped = dap.wait_event("stopped")[-1]
    assert stopped["body"]["reason"] == "exception"
    frames = dap.frames()
    assert [f["name"].split()[0] for f in frames] == ["fails", "calls_fails", "<module>"]
    assert frames[0]["line"] == 3
    assert dap.variables(frames[0]["id"]) == {"x": "0"}
    dap.request("setExceptionBreakpoints", {"filters": []})
    dap.request("continue", {"threadId": 1})
    reply = dap.reply(render)
    assert reply["status"] == "error" and reply["ename"] == "ZeroDivisionError"


def test_child_dying_while_stopped_is_reported_and_nothing_hangs(dap: DapClient) -> None:
    start_and_define(dap, INNER, 4)
    render = dap.execute(RENDER)
    dap.wait_event("stopped")
    frames = dap.frames()
    inner_pid = int(frames[0]["name"].split("pid")[1].strip(" ]"))
    os.kill(inner_pid, signal.SIGKILL)
    events = dap.wait_event("output", timeout=30)
    assert "continued" in [e["event"] for e in events]
    assert f"pid {inner_pid}" in events[-1]["body"]["output"]
    stale = dap.request("scopes", {"frameId": frames[0]["id"]})
    assert stale["success"] is False and stale["message"]
    reply = dap.reply(render)
    assert reply["status"] == "error" and "KernelDiedError" in reply["evalue"] + reply["ename"]
    assert dap.request("stackTrace", {"threadId": 1})["body"]["stackFrames"] == []
    render = dap.execute('call("outer", 2)')
    dap.wait_event("stopped")  # a fresh inner, debugged from its start: the breakpoint hits
    assert dap.frames()[0]["name"].split()[0] == "inner"
    path = dap.request("dumpCell", {"code": INNER})["body"]["sourcePath"]
    dap.request(
        "setBreakpoints", {"breakpoints": [], "source": {"path": path}, "sourceModified": False}
    )
    dap.request("continue", {"threadId": 1})
    assert dap.reply(render)["status"] == "ok"


def test_inspection_requests_jupyterlab_sends(dap: DapClient) -> None:
    assert dap.reply(dap.execute("answer = 42\nwords = ['a', 'b']"))["status"] == "ok"
    before = dap.request("inspectVariables", {})
    assert before["success"] is True, "works before the debugger starts"
    start_and_define(dap, INNER, 4)
    assert dap.request("configurationDone", {})["success"] is True
    assert dap.request("threads")["body"]["threads"] == [{"id": 1, "name": "MainThread"}]
    names = {v["name"]: v for v in dap.request("inspectVariables", {})["body"]["variables"]}
    assert names["answer"]["value"] == "42"
    assert 0 < names["words"]["variablesReference"] < 2**31, "raw id()s are renumbered"
    modules = dap.request("modules", {})["body"]["modules"]
    assert any(m["name"] == "json" for m in modules)
    rich = dap.request("richInspectVariables", {"variableName": "answer"})
    assert rich["body"]["data"]["text/plain"] == "42"
    missing = dap.request("source", {"source": {"path": "/nonexistent/x.py"}, "sourceReference": 0})
    assert missing["success"] is False and missing["message"] == "source unavailable"

    render = dap.execute(RENDER)
    dap.wait_event("stopped")
    frames = dap.frames()
    rich = dap.request(
        "richInspectVariables", {"variableName": "total", "frameId": frames[1]["id"]}
    )
    assert rich["body"]["data"]["text/plain"] == "0", "caller frame, through the call plane"
    copied = dap.request(
        "copyToGlobals",
        {"srcVariableName": "y", "dstVariableName": "y_copy", "srcFrameId": frames[0]["id"]},
    )
    assert copied["success"] is True
    check = dap.request(
        "evaluate", {"expression": "y_copy", "frameId": frames[0]["id"], "context": "repl"}
    )
    assert check["body"]["result"] == "0"
    path = dap.request("dumpCell", {"code": INNER})["body"]["sourcePath"]
    dap.request(
        "setBreakpoints", {"breakpoints": [], "source": {"path": path}, "sourceModified": False}
    )
    dap.request("continue", {"threadId": 1})
    assert dap.reply(render)["status"] == "ok"
