"""Debugging JavaScript functions (issue 14) over real ZMQ: the DAP requests JupyterLab
sends, to a real meta-kernel whose renders cross Python and tslab JS kernels. ONE merged
stack in call order, variables and nested objects, evaluate, steps across the language
boundary both ways, pause while either side waits on the other, exception breakpoints,
the inspector opened on initialize (loopback) and closed on disconnect; and the console
tracer's `where`, `p` and `up` in JS frames through a real `jupyter console`.

One meta-kernel serves the module (JS kernels take seconds to start); each test leaves
it running, with no breakpoint, no exception filter and the program not stopped.
"""

from __future__ import annotations

import os
import re
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest
from test_console import Console
from test_debugger import INITIALIZE, DapClient, dap_session

JS = "metakernel_dbg_js"
CELLS = {
    "pinner": "%%function pinner\ndef pinner(x):\n    y = x * 2\n    return y + 1",
    "jouter": textwrap.dedent(
        f"""\
        %%function jouter --kernel {JS}
        function jouter(n) {{
          let total = 0;
          const obj = {{a: 1, nested: {{b: [1, 2, 3]}}, label: 'x'}};
          for (let i = 0; i < n; i++) {{
            total += call('pinner', i);
          }}
          return total;
        }}"""
    ),
    "pouter": (
        "%%function pouter\ndef pouter(n):\n    a = call('jleaf', n)\n    b = a + 1\n    return b"
    ),
    "jleaf": textwrap.dedent(
        f"""\
        %%function jleaf --kernel {JS}
        function jleaf(x) {{
          const y = x * 3;
          return y + 1;
        }}"""
    ),
    "jspin": textwrap.dedent(
        f"""\
        %%function jspin --kernel {JS}
        function jspin(ms) {{
          let spins = 0;
          const until = {{end: Date.now() + ms}};
          while (Date.now() < until.end) spins++;
          return spins > 0;
        }}"""
    ),
    "jwait": textwrap.dedent(
        f"""\
        %%function jwait --kernel {JS}
        function jwait(secs) {{
          const before = 'waiting';
          const got = call('pslow', secs);
          return got + 1;
        }}"""
    ),
    "pslow": (
        "%%function pslow\ndef pslow(s):\n    import time\n    end = time.monotonic() + s\n"
        "    while time.monotonic() < end:\n        time.sleep(0.01)\n    return 41"
    ),
    "jthrow": textwrap.dedent(
        f"""\
        %%function jthrow --kernel {JS}
        function jthrow(x) {{
          const local = x + 1;
          try {{
            JSON.parse('{{');
          }} catch (e) {{}}
          throw new TypeError('bad ' + local);
        }}"""
    ),
}
JFILE = "function jfile(x) {\n  const doubled = call('pinner', x) * 2;\n  return doubled;\n}\n"


class Program:
    """The module's meta-kernel, its DAP client and the paths of its cells."""

    def __init__(self, dap: DapClient, jfile: Path) -> None:
        self.dap = dap
        self.jfile = str(jfile)
        self.paths = {
            name: dap.request("dumpCell", {"code": cell})["body"]["sourcePath"]
            for name, cell in CELLS.items()
        }

    def breakpoints(self, name: str, *lines: int) -> list[dict]:
        path = self.paths.get(name, name)
        args = {"source": {"path": path}, "breakpoints": [{"line": n} for n in lines]}
        reply = self.dap.request("setBreakpoints", {**args, "sourceModified": False})
        assert reply["success"], reply
        return reply["body"]["breakpoints"]

    def render(self, code: str) -> str:
        return self.dap.execute(code)

    def stop_at(self, name: str, line: int, code: str) -> str:
        """Run `code` until a one-off breakpoint in `name`'s line stops it; its render."""
        self.breakpoints(name, line)
        render = self.render(code)
        self.stopped()
        self.breakpoints(name)
        return render

    def stopped(self, timeout: float = 60) -> dict:
        return self.dap.wait_event("stopped", timeout)[-1]["body"]

    def where(self) -> list[tuple[str, int]]:
        return [(f["name"].split()[0], f["line"]) for f in self.dap.frames()]

    def step(self, command: str) -> tuple[str, list[tuple[str, int]]]:
        assert self.dap.request(command, {"threadId": 1})["success"], command
        return self.stopped()["reason"], self.where()

    def finish(self, render: str, timeout: float = 60) -> dict:
        assert self.dap.request("continue", {"threadId": 1})["success"]
        return self.dap.reply(render, timeout)

    def js_pid(self, name: str) -> int:
        reply = self.dap.reply(self.dap.execute("%functions"))
        assert reply["status"] == "ok"
        while True:  # the output of %functions
            msg = self.dap.iopub.get(timeout=30)
            text = msg["content"].get("text", "") if msg["msg_type"] == "stream" else ""
            for line in text.splitlines():
                if line.startswith(name + " "):
                    return int(re.search(r"pid (\d+)", line).group(1))


@pytest.fixture(scope="module")
def program(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Program]:
    folder = tmp_path_factory.mktemp("jsfunctions")
    (folder / "jfile.js").write_text(JFILE, encoding="utf-8")
    with dap_session() as dap:
        assert dap.request("initialize", INITIALIZE)["success"]
        assert dap.request("attach", {})["success"]
        for cell in CELLS.values():
            reply = dap.reply(dap.execute(cell))
            assert reply["status"] == "ok", reply
        assert dap.reply(dap.execute(f"%load_functions {folder}"))["status"] == "ok"
        yield Program(dap, folder / "jfile.js")


@pytest.fixture
def js(program: Program) -> Iterator[Program]:
    yield program
    dap = program.dap
    dap.request("setExceptionBreakpoints", {"filters": []})
    for path in [*program.paths.values(), program.jfile]:
        dap.request("setBreakpoints", {"source": {"path": path}, "breakpoints": []})
    for _ in range(20):  # a failed test may have left the program stopped
        if not dap.request("debugInfo")["body"]["stoppedThreads"]:
            break
        dap.request("continue", {"threadId": 1})
        time.sleep(0.2)
    while not dap.events.empty():
        dap.events.get()


def names(frames: list[dict]) -> list[str]:
    return [f["name"] for f in frames]


def test_merged_stack_with_a_js_frame_between_python_frames(js: Program) -> None:
    dap = js.dap
    js.breakpoints("pinner", 4)
    render = js.render('result = call("jouter", 2)\nresult')
    assert js.stopped()["reason"] == "breakpoint"
    frames = dap.frames()
    assert [n.split()[0] for n in names(frames)] == ["pinner", "jouter", "<module>"]
    assert "[python3 pid" in names(frames)[0] and "[main pid" in names(frames)[2]
    assert "  [js pid " in names(frames)[1]
    assert [f["line"] for f in frames] == [4, 6, 1]
    assert frames[1]["source"]["path"] == js.paths["jouter"]
    assert dap.variables(frames[0]["id"]) == {"x": "0", "y": "0"}
    # the JS caller, waiting in call(): its variables and nested objects, and evaluate
    assert dap.variables(frames[1]["id"]) == {
        "i": "0",
        "n": "2",
        "total": "0",
        "obj": "{a: 1, nested: {…}, label: 'x'}",
    }
    scopes = dap.request("scopes", {"frameId": frames[1]["id"]})["body"]["scopes"]
    assert [s["name"] for s in scopes] == ["Locals", "Globals"]
    local = dap.request("variables", {"variablesReference": scopes[0]["variablesReference"]})
    obj = next(v for v in local["body"]["variables"] if v["name"] == "obj")
    nested = dap.request("variables", {"variablesReference": obj["variablesReference"]})
    inner = {v["name"]: v for v in nested["body"]["variables"]}
    assert inner["label"]["value"] == "'x'" and inner["nested"]["value"] == "{b: Array(3)}"
    b = dap.request("variables", {"variablesReference": inner["nested"]["variablesReference"]})
    assert b["body"]["variables"][0]["value"] == "[1, 2, 3]"
    evaluate = {"expression": "total + n * 100 + obj.nested.b[2]", "context": "repl"}
    reply = dap.request("evaluate", {**evaluate, "frameId": frames[1]["id"]})
    assert reply["body"]["result"] == "203"
    reply = dap.request("evaluate", {"expression": "nope.x", "frameId": frames[1]["id"]})
    assert reply["success"] is False and "nope is not defined" in reply["message"]
    assert dap.frames() == frames, "ids are stable while stopped"

    js.breakpoints("pinner")
    js.breakpoints("jouter", 6)
    assert dap.request("continue", {"threadId": 1})["success"]
    assert js.stopped()["reason"] == "breakpoint"
    frames = dap.frames()
    assert [(n.split()[0], f["line"]) for n, f in zip(names(frames), frames, strict=True)] == [
        ("jouter", 6),
        ("<module>", 1),
    ]
    assert dap.variables(frames[0]["id"])["total"] == "1", "the JS kernel ran on and stopped"
    js.breakpoints("jouter")
    assert js.finish(render)["status"] == "ok"


def test_breakpoint_in_a_js_file(js: Program) -> None:
    bps = js.breakpoints(js.jfile, 3)
    assert bps[0]["verified"]
    render = js.render('call("jfile", 5)')
    js.stopped()
    assert js.where() == [("jfile", 3), ("<module>", 1)]
    frames = js.dap.frames()
    assert frames[0]["source"]["path"] == js.jfile
    assert js.dap.variables(frames[0]["id"]) == {"x": "5", "doubled": "22"}
    source = js.dap.request("source", {"source": {"path": js.jfile}})["body"]
    assert source == {"content": JFILE, "mimeType": "text/javascript"}
    js.breakpoints(js.jfile)
    assert js.finish(render)["status"] == "ok"


def test_steps_from_a_js_caller_into_python_and_back(js: Program) -> None:
    render = js.stop_at("jouter", 6, 'call("jouter", 1)')
    assert js.step("stepIn") == ("step", [("pinner", 3), ("jouter", 6), ("<module>", 1)])
    assert js.step("next") == ("step", [("pinner", 4), ("jouter", 6), ("<module>", 1)])
    # off the callee's end: the JS caller stops at its call line, then goes on from there
    assert js.step("next") == ("step", [("jouter", 6), ("<module>", 1)])
    reason, where = js.step("next")
    assert reason == "step" and where[0][0] == "jouter" and where[0][1] in (5, 8)
    assert js.finish(render)["status"] == "ok"


def test_steps_from_a_python_caller_into_js_and_back(js: Program) -> None:
    render = js.stop_at("pouter", 3, 'call("pouter", 2)')
    assert js.step("stepIn") == ("step", [("jleaf", 3), ("pouter", 3), ("<module>", 1)])
    assert js.step("next") == ("step", [("jleaf", 4), ("pouter", 3), ("<module>", 1)])
    for _ in range(3):  # V8 also stops at the return position of `return y + 1;`
        reason, where = js.step("next")
        if where[0][0] == "pouter":
            break
    assert where == [("pouter", 3), ("<module>", 1)], "back at the Python caller's call line"
    assert js.step("next")[1] == [("pouter", 4), ("<module>", 1)]
    assert js.finish(render)["status"] == "ok"

    render = js.stop_at("pouter", 3, 'call("pouter", 2)')
    assert js.step("stepIn")[1][0] == ("jleaf", 3)
    assert js.step("stepOut")[1] == [("pouter", 3), ("<module>", 1)]
    assert js.step("next")[1] == [("pouter", 4), ("<module>", 1)]
    assert js.finish(render)["status"] == "ok"


def test_pause_while_python_waits_on_js_and_js_waits_on_python(js: Program) -> None:
    dap = js.dap
    render = js.render('call("jspin", 60_000)')
    time.sleep(3)  # the JS function is spinning
    assert dap.request("pause", {"threadId": 1})["success"]
    assert js.stopped()["reason"] == "pause"
    frames = dap.frames()
    assert [n.split()[0] for n in names(frames)] == ["jspin", "<module>"]
    assert frames[0]["line"] in (4, 5)
    assert int(dap.variables(frames[0]["id"])["spins"]) > 0
    # end the spin from the debugger: the render returns at once
    ended = dap.request("evaluate", {"expression": "until.end = 0", "frameId": frames[0]["id"]})
    assert ended["success"], ended
    assert js.finish(render, timeout=30)["status"] == "ok", "the spin ended early"

    render = js.render('call("jwait", 30)')
    time.sleep(4)  # jwait waits in call('pslow')
    assert dap.request("pause", {"threadId": 1})["success"]
    assert js.stopped()["reason"] == "pause"
    frames = dap.frames()
    assert [n.split()[0] for n in names(frames)] == ["pslow", "jwait", "<module>"]
    assert frames[1]["line"] == 4
    assert dap.variables(frames[1]["id"]) == {
        "secs": "30",
        "before": "'waiting'",
        "got": "undefined",
    }
    ended = dap.request(
        "evaluate", {"expression": "end = 0", "frameId": frames[0]["id"], "context": "repl"}
    )
    assert ended["success"] and "Error" not in ended["body"]["result"], ended
    assert js.finish(render, timeout=20)["status"] == "ok", "the wait ended early"


@pytest.mark.parametrize(
    ("filters", "stops"),
    [
        (["raised"], [("jthrow", 5, "SyntaxError"), ("jthrow", 7, "TypeError")]),
        (["uncaught"], [("jthrow", 7, "TypeError")]),
        (["userUnhandled"], [("jthrow", 7, "TypeError")]),
    ],
)
def test_exception_breakpoints_in_js(js: Program, filters: list[str], stops: list) -> None:
    dap = js.dap
    assert dap.request("setExceptionBreakpoints", {"filters": filters})["success"]
    render = js.render('try:\n    call("jthrow", 1)\nexcept TypeError as e:\n    print(e)')
    seen = []
    for _ in stops:
        body = js.stopped()
        assert body["reason"] == "exception"
        top = dap.frames()[0]
        seen.append((top["name"].split()[0], top["line"], body["text"].split(":")[0]))
        if len(seen) < len(stops):
            dap.request("continue", {"threadId": 1})
    assert seen == stops
    assert dap.variables(dap.frames()[0]["id"]) == {"x": "1", "local": "2"}
    dap.request("setExceptionBreakpoints", {"filters": []})
    assert js.finish(render)["status"] == "ok"


def test_the_inspector_listens_on_loopback_only_while_debugging(js: Program) -> None:
    pid = js.js_pid("jleaf")

    def inspector_ports() -> set[int]:
        listening = [c for c in psutil.Process(pid).net_connections("inet") if c.status == "LISTEN"]
        assert all(c.laddr.ip == "127.0.0.1" for c in listening), listening
        return {c.laddr.port for c in listening}

    debugging = inspector_ports()
    assert js.dap.request("disconnect", {"restart": False})["success"]
    closed = inspector_ports()
    assert len(closed) == len(debugging) - 1, "the inspector's port closed on disconnect"
    assert js.dap.request("initialize", INITIALIZE)["success"]
    assert js.dap.request("attach", {})["success"]
    assert len(inspector_ports()) == len(debugging), "and opens again on initialize"


# --------------------------------------------------------------------------- the console


@pytest.fixture(scope="module")
def console(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Console]:
    folder = tmp_path_factory.mktemp("console_js")
    (folder / "pinner.py").write_text("def pinner(x):\n    y = x * 2\n    return y + 1\n")
    (folder / "jmid.js").write_text(
        "function jmid(n) {\n  let total = 0;\n  for (let i = 0; i < n; i++) {\n"
        "    total += call('pinner', i);\n  }\n  return total;\n}\n"
    )
    con = Console(dict(os.environ))
    try:
        con.send(f"%load_functions {folder}", r"^jmid defined in kernel", timeout=180)
        yield con
    finally:
        con.close()


def test_console_breaks_in_a_js_function_by_name(console: Console) -> None:
    console.send("%break jmid", r"^Breakpoint \d+ at jmid, jmid\.js line 2$")
    stop = console.send('call("jmid", 1)', r"^> jmid \(js pid \d+\) jmid\.js line 2$")
    assert stop.prompt == "dbg"
    console.send("p n", r"^1$")
    assert console.send("c", r"^Out\[\d+\]: 1$").prompt == "in"
    console.send("%clear", r"^Deleted breakpoint")


def test_console_where_p_up_in_js_frames(console: Console) -> None:
    console.send("%break pinner:3", r"^Breakpoint \d+ at pinner")
    stop = console.send('call("jmid", 2)', r"^> pinner \(python3 pid \d+\) pinner\.py line 3$")
    assert stop.prompt == "dbg"
    console.send(
        "where",
        r"^  -> #0 pinner\s+\[python3 pid \d+\]\s+line 3\s+return y \+ 1$",
        r"^     #1 jmid\s+\[js pid \d+\]\s+line 4\s+total \+= call\('pinner', i\);$",
        r"^     #2 <module>\s+\[main pid \d+\]\s+line 1",
    )
    console.send("up", r"^> jmid \(js pid \d+\) jmid\.js line 4$")
    console.send("p total + n * 10", r"^20$")
    console.send("p typeof call", r"^'function'$")
    console.send("down", r"^> pinner ")
    console.send("p y", r"^0$")
    console.send("c", r"^> pinner ")
    console.send("up", r"^> jmid ")
    console.send("p total", r"^1$")
    done = console.send("continue", r"^Out\[\d+\]: 4$")
    assert done.prompt == "in"
    console.send("%clear", r"^Deleted breakpoint \d+")
