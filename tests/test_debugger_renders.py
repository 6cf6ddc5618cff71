"""The debugger with several renders at once: threads in a cell each calling functions.

Real meta-kernel, real DAP over the control channel (the JupyterLab-like client of
test_debugger). Each render is its own DAP thread: `threads` lists them with stable ids,
`stopped` names the render's thread, `stackTrace(threadId)` is that render's merged stack
only, and a second render that stops meanwhile is shown once the first one resumes.
"""

from __future__ import annotations

from pathlib import Path

from test_debugger import INITIALIZE, DapClient, dap_session

#: b waits inside its call until the test says go, then reaches its breakpoint (line 7)
FUNCTION_B = """%%function b
def b(folder):
    import os, time
    open(os.path.join(folder, "b-in"), "w").close()
    while not os.path.exists(os.path.join(folder, "go")):
        time.sleep(0.01)
    return "B"
"""
FUNCTION_A = """%%function a
def a(folder):
    x = "A"
    return x
"""
#: b's thread calls first (it uses the main kernel's own connection: the cell's render);
#: a's thread calls while b's call runs (a connection and a render of its own)
CELL = """import os, time
from concurrent.futures import ThreadPoolExecutor

def run_b():
    return call("b", FOLDER)

def run_a():
    who = "a's thread"
    return call("a", FOLDER)

with ThreadPoolExecutor(2) as pool:
    fb = pool.submit(run_b)
    deadline = time.monotonic() + 60
    while not os.path.exists(os.path.join(FOLDER, "b-in")) and time.monotonic() < deadline:
        time.sleep(0.01)
    fa = pool.submit(run_a)
    results = [fa.result(), fb.result()]
results
"""


def set_breakpoint(dap: DapClient, cell: str, line: int) -> None:
    path = dap.request("dumpCell", {"code": cell})["body"]["sourcePath"]
    reply = dap.request(
        "setBreakpoints",
        {"breakpoints": [{"line": line}], "source": {"path": path}, "sourceModified": False},
    )
    assert reply["body"]["breakpoints"][0]["verified"] is True


def names(frames: list[dict]) -> list[str]:
    return [f["name"].split()[0] for f in frames]


def test_each_render_is_its_own_dap_thread(tmp_path: Path) -> None:
    with dap_session() as dap:
        assert dap.request("initialize", INITIALIZE)["success"] is True
        assert dap.request("attach", {})["success"] is True
        set_breakpoint(dap, FUNCTION_A, 4)
        set_breakpoint(dap, FUNCTION_B, 7)
        for cell in (FUNCTION_A, FUNCTION_B, f"FOLDER = {str(tmp_path)!r}"):
            assert dap.reply(dap.execute(cell))["status"] == "ok"
        assert dap.request("threads")["body"]["threads"] == [{"id": 1, "name": "MainThread"}]

        cell = dap.execute(CELL)
        stopped = dap.wait_event("stopped")[-1]["body"]
        a_thread = stopped["threadId"]
        assert a_thread != 1, "a runs in a render of its own, not the cell's"
        threads = dap.request("threads")["body"]["threads"]
        assert sorted(t["id"] for t in threads) == [1, a_thread]
        assert dap.request("debugInfo")["body"]["stoppedThreads"] == [a_thread]

        frames = dap.request("stackTrace", {"threadId": a_thread})["body"]["stackFrames"]
        assert names(frames) == ["a", "run_a"], "a's render only: never b's levels"
        who = dap.request(
            "evaluate", {"expression": "who", "frameId": frames[1]["id"], "context": "repl"}
        )
        assert who["body"]["result"] == '"a\'s thread"', "inspected through a's own thread"
        running = dap.request("stackTrace", {"threadId": 1})["body"]
        assert running["stackFrames"] == [], "the cell's render runs: no frames"

        (tmp_path / "go").touch()  # b now runs to its own breakpoint, while a is shown
        dap.request("continue", {"threadId": a_thread})
        stopped = dap.wait_event("stopped")[-1]["body"]
        assert stopped["threadId"] == 1
        frames = dap.request("stackTrace", {"threadId": 1})["body"]["stackFrames"]
        assert names(frames) == ["b", "run_b"]
        assert [t["id"] for t in dap.request("threads")["body"]["threads"]] == [1, a_thread]

        dap.request("continue", {"threadId": 1})
        assert dap.reply(cell)["status"] == "ok"
        texts = [
            m["content"]["data"]["text/plain"]
            for m in list(dap.iopub.queue)
            if m["header"]["msg_type"] == "execute_result"
        ]
        assert texts == ["['A', 'B']"]
        assert dap.request("threads")["body"]["threads"] == [{"id": 1, "name": "MainThread"}]
