"""The console tracer (`metakernel_dbg.console`): `%break`, `%pdb`, `%step`, the `(mkdbg)`
prompt, driven through a REAL `jupyter console --kernel metakernel_dbg` (pexpect), plus
headless checks of the stdin protocol and of the coexistence with a frontend debugger, and
unit tests of the pure parts (command parser, breakpoint locations, formatting)."""

from __future__ import annotations

import json
import os
import queue
import re
import sys
import textwrap
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pexpect
import pytest
from conftest import (
    REPO,
    assert_processes_gone,
    child_processes,
    collect_iopub,
    iopub_log,
    result_text,
    run,
    send_execute,
    stream_text,
    strip_ansi,
    wait_reply,
)

from metakernel_dbg.console import core as mc

JUPYTER = str(Path(sys.executable).with_name("jupyter"))
STARTUP_TIMEOUT = 120
STEP_TIMEOUT = 90  # one command: may start kernels and their debuggers
LATE_OUTPUT_TIMEOUT = 10  # output that reaches the terminal after the next prompt

FUNCTIONS = {
    "inner": """\
        def inner(x):
            y = x * 2
            return y + 1
        """,
    "outer": """\
        # kernel: python3
        def outer(n):
            total = 0
            for i in range(n):
                total += call("inner", i)
            return total
        """,
    "head": """\
        def head(x):
            w = x - 1
            return call("mid", w) + 1
        """,
    "mid": """\
        def mid(x):
            z = x * 10
            return call("failer", z)
        """,
    "failer": """\
        def failer(x):
            y = x + 1
            raise ValueError(f"bad {y}")
        """,
    "fact": """\
        def fact(n):
            if n <= 1:
                return 1
            return n * call("fact", n - 1)
        """,
}


# ------------------------------------------------------------------ a real jupyter console

_PROMPT_IN = r"In \[\d+\]: "
_PROMPT_DBG = r"\(mkdbg\) "


@dataclass
class Answer:
    """What one command printed (ANSI stripped, echo removed) and the prompt after it."""

    prompt: str  # "in" or "dbg"
    text: str
    raw: str

    def lines(self) -> list[str]:
        return self.text.splitlines()

    def search(self, pattern: str) -> re.Match[str]:
        match = re.search(pattern, self.text, re.M)
        assert match, f"{pattern!r} not in:\n{self.text}"
        return match


class Console:
    """`jupyter console --kernel metakernel_dbg --simple-prompt` in a pty."""

    def __init__(self, env: dict[str, str]) -> None:
        self.transcript: list[str] = []
        self.child = pexpect.spawn(
            JUPYTER,
            ["console", "--kernel", "metakernel_dbg", "--simple-prompt"],
            cwd=str(REPO),
            env=env,
            encoding="utf-8",
            codec_errors="replace",
            dimensions=(60, 250),
            timeout=STEP_TIMEOUT,
        )
        self.prompt = "none"
        self._expect([_PROMPT_IN], STARTUP_TIMEOUT)
        self.prompt = "in"

    def _expect(self, patterns: list[str], timeout: float) -> int:
        try:
            index = self.child.expect(patterns, timeout=timeout)
        except (pexpect.TIMEOUT, pexpect.EOF) as exc:
            self.transcript.append(str(self.child.before))
            tail = strip_ansi("".join(self.transcript))[-3000:]
            raise AssertionError(
                f"{type(exc).__name__} waiting for {patterns}; console output:\n{tail}"
            ) from None
        self.transcript.append(self.child.before + self.child.after)
        return index

    def send(self, line: str, *patterns: str, timeout: float = STEP_TIMEOUT) -> Answer:
        """Type `line`, wait for the next prompt; `patterns` (multiline regexes) must appear.

        IOPub (output) and stdin (the `(mkdbg)` prompt) are separate channels, so output
        may reach the terminal just after the prompt: missing patterns are waited for.
        """
        self.child.sendline(line)
        index = self._expect([_PROMPT_IN, _PROMPT_DBG], timeout)
        self.prompt = ("in", "dbg")[index]
        raw = self.child.before
        deadline = time.monotonic() + LATE_OUTPUT_TIMEOUT
        while not all(re.search(p, _clean(raw), re.M) for p in patterns):
            if time.monotonic() > deadline:
                break
            try:
                raw += self.child.read_nonblocking(4096, timeout=0.2)
            except pexpect.TIMEOUT:
                continue
            except pexpect.EOF:
                break
        text = _clean(raw)
        first, _, rest = text.partition("\n")
        answer = Answer(self.prompt, rest if line.strip() in first else text, raw)
        for pattern in patterns:
            answer.search(pattern)
        return answer

    def reset(self) -> None:
        """Back at `In [n]:` with no breakpoints and %pdb off (after a failed test)."""
        if self.prompt == "dbg":
            self.send("quit", timeout=STEP_TIMEOUT)
        self.send("%clear")
        self.send("%pdb off")

    def close(self) -> None:
        procs = child_processes(self.child.pid)  # the meta-kernel and every child kernel
        try:
            if self.child.isalive():
                if self.prompt == "dbg":
                    self.child.sendline("quit")
                    self.child.expect([_PROMPT_IN, pexpect.EOF, pexpect.TIMEOUT], timeout=30)
                self.child.sendline("exit")
                if self.child.expect([pexpect.EOF, r"\(\[y\]/n\)", pexpect.TIMEOUT], 60) == 1:
                    self.child.sendline("y")
                    self.child.expect([pexpect.EOF, pexpect.TIMEOUT], timeout=60)
        finally:
            if self.child.isalive():
                self.child.terminate(force=True)
            self.child.close(force=True)
            assert_processes_gone(procs, timeout=30)


def _clean(raw: str) -> str:
    return strip_ansi(raw).replace("\r\n", "\n").replace("\r", "")


@pytest.fixture(scope="module")
def functions_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("console_functions")
    for name, source in FUNCTIONS.items():
        (path / f"{name}.py").write_text(textwrap.dedent(source), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def session(functions_dir: Path) -> Iterator[Console]:
    env = {k: v for k, v in os.environ.items() if k != "NO_COLOR"}
    env["WIKIFUNCTIONS_DATA"] = str(REPO / "examples/wikifunctions/data/entities.json")
    con = Console(env)
    try:
        out = con.send(
            f"%load_functions {functions_dir}",
            *(rf"^{name} defined in kernel python3 \(pid \d+\)$" for name in FUNCTIONS),
            timeout=STARTUP_TIMEOUT,
        )
        assert out.prompt == "in"
        yield con
    finally:
        con.close()


@pytest.fixture
def console(session: Console) -> Console:
    session.reset()
    return session


def _pid(answer: Answer, pattern: str) -> int:
    return int(answer.search(pattern).group(1))


def test_breakpoint_two_calls_deep_where_print_and_continue(console: Console) -> None:
    console.send("%break inner:3", r"^Breakpoint 1 at inner, inner\.py line 3$")
    console.send("%breaks", r"^\s+1\s+break\s+inner, inner\.py line 3$", r"^pdb off$")

    stop = console.send(
        'call("outer", 3)',
        r"^> inner \(python3 pid \d+\) inner\.py line 3$",
        r"^\s+3\s+return y \+ 1$",
    )
    assert stop.prompt == "dbg"
    assert "\x1b[" in stop.raw, "ANSI colours by default"

    where = console.send(
        "where",
        r"^  -> #0 inner\s+\[python3 pid (\d+)\]\s+line 3\s+return y \+ 1$",
        r"^     #1 outer\s+\[python3 pid (\d+)\]\s+line 5\s+total \+= call\(\"inner\", i\)$",
        r"^     #2 <module>\s+\[main pid (\d+)\]\s+line 1\s+call\(\"outer\", 3\)$",
    )
    assert len(where.lines()) == 3
    pids = {
        _pid(where, r"#0 inner\s+\[python3 pid (\d+)\]"),
        _pid(where, r"#1 outer\s+\[python3 pid (\d+)\]"),
        _pid(where, r"#2 <module>\s+\[main pid (\d+)\]"),
    }
    assert len(pids) == 3, "three kernels"

    # evaluation in the stopped kernel, then in a waiting caller (another kernel)
    console.send("p y", r"^0$")
    console.send("p x + 100", r"^100$")
    console.send("up", r"^> outer \(python3 pid \d+\) outer\.py line 5$")
    console.send("p total", r"^0$")
    console.send("p n * 10", r"^30$")
    console.send("where", r"^     #0 inner", r"^  -> #1 outer")
    console.send("frame 2", r"^> <module> \(main pid \d+\) cell line 1$")
    console.send("p zz", r"^\*\*\* .*name 'zz' is not defined")
    console.send("bogus", r"^\*\*\* unknown command 'bogus'")
    console.send("up", r"^\*\*\* oldest frame$")
    console.send("down 2", r"^> inner \(python3 pid \d+\) inner\.py line 3$")
    locals_ = console.send("locals", r"^x = 0$", r"^y = 0$")
    assert locals_.prompt == "dbg"
    console.send("args", r"^x = 0$")
    console.send("list", r"^\s+3 ->\s+return y \+ 1$", r"^\s+2 \s+y = x \* 2$")

    again = console.send("c", r"^> inner \(python3 pid \d+\) inner\.py line 3$")
    assert again.prompt == "dbg"
    console.send("p y", r"^2$")
    console.send("c", r"^> inner ")
    console.send("p x", r"^2$")
    done = console.send("continue", r"^Out\[\d+\]: 9$")
    assert done.prompt == "in"
    console.send("%clear", r"^Deleted breakpoint 1 at inner, inner\.py line 3$")


def test_step_into_a_callee_and_return_to_the_caller(console: Console) -> None:
    console.send("%tbreak outer:5", r"^Temporary breakpoint \d+ at outer, outer\.py line 5$")
    console.send(
        'call("outer", 3)',
        r"^Deleted temporary breakpoint \d+ at outer, outer\.py line 5$",
        r"^> outer \(python3 pid \d+\) outer\.py line 5$",
    )
    console.send("step", r"^> inner \(python3 pid \d+\) inner\.py line 2$")
    console.send(
        "where",
        r"^  -> #0 inner\s+\[python3 pid \d+\]\s+line 2\s+y = x \* 2$",
        r"^     #1 outer\s+\[python3 pid \d+\]\s+line 5",
        r"^     #2 <module>",
    )
    console.send("next", r"^> inner \(python3 pid \d+\) inner\.py line 3$")
    back = console.send("return", r"^> outer \(python3 pid \d+\) outer\.py line 5$")
    assert back.prompt == "dbg"
    console.send("where", r"^  -> #0 outer\s+\[python3 pid \d+\]\s+line 5", r"^     #1 <module>")
    console.send("p i", r"^0$")
    done = console.send("c", r"^Out\[\d+\]: 9$")
    assert done.prompt == "in", "the one-shot breakpoint is gone"
    console.send("%breaks", r"^no breakpoints")


def test_pdb_post_mortem_three_levels_deep(console: Console, tmp_path: Path) -> None:
    console.send("%pdb on", r"^pdb on")
    stop = console.send(
        'call("head", 5)',
        r"^ValueError: bad 41$",
        r"^> failer \(python3 pid \d+\) failer\.py line 3$",
        r"^\s+3\s+raise ValueError",
    )
    assert stop.prompt == "dbg"
    where = console.send(
        "where",
        r"^  -> #0 failer\s+\[python3 pid \d+\]\s+line 3\s+raise ValueError",
        r"^     #1 mid\s+\[python3 pid \d+\]\s+line 3\s+return call\(\"failer\", z\)$",
        r"^     #2 head\s+\[python3 pid \d+\]\s+line 3\s+return call\(\"mid\", w\) \+ 1$",
        r"^     #3 <module>\s+\[main pid \d+\]\s+line 1\s+call\(\"head\", 5\)$",
    )
    assert len(where.lines()) == 4
    console.send("p y", r"^41$")
    console.send("up", r"^> mid \(python3 pid \d+\) mid\.py line 3$")
    console.send("p z", r"^40$")
    console.send("up", r"^> head ")
    console.send("pp {'w': w, 'list': list(range(3))}", r"^\{'list': \[0, 1, 2\], 'w': 4\}$")
    done = console.send("c", r"ValueError: bad 41")
    assert done.prompt == "in", "one post-mortem stop per failure, not one per kernel"
    console.send("%pdb off", r"^pdb off$")

    trace = console.send("%trace", r"failer", r"mid", r"head", r"ValueError: bad 41")
    assert trace.text.index("head") < trace.text.index("failer")
    path = tmp_path / "trace.json"
    console.send(f"%trace --json {path}", r"^trace saved to ")
    spans = json.loads(path.read_text())["spans"]
    assert {"head", "mid", "failer"} <= {s["function"] for s in spans}


def test_corpus_steps_out_of_a_loop_and_a_recursion(console: Console) -> None:
    """Issue 11's corpus at the prompt (the reference is one stock kernel): `return` from a
    breakpoint in `inner` stops in `outer` on the call line, `next` goes on in the loop (the
    breakpoint is hit again at the next iteration only); in a recursion across kernels,
    `return` from the base case stops in the level above."""
    console.send("%break inner:3", r"^Breakpoint \d+ at inner, inner\.py line 3$")
    console.send('call("outer", 3)', r"^> inner \(python3 pid \d+\) inner\.py line 3$")
    console.send("return", r"^> outer \(python3 pid \d+\) outer\.py line 5$")
    console.send("p (i, total)", r"^\(0, 0\)$")
    console.send("next", r"^> outer \(python3 pid \d+\) outer\.py line 4$")
    console.send("c", r"^> inner \(python3 pid \d+\) inner\.py line 3$")
    console.send("p x", r"^1$")
    console.send("c", r"^> inner \(python3 pid \d+\) inner\.py line 3$")
    console.send("c", r"^Out\[\d+\]: 9$")
    console.send("%clear", r"^Deleted breakpoint")

    console.send("%tbreak fact:3", r"^Temporary breakpoint \d+ at fact, fact\.py line 3$")
    console.send('call("fact", 4)', r"^> fact \(python3 pid \d+\) fact\.py line 3$")
    where = console.send("where", r"^  -> #0 fact\s+\[python3 pid \d+\]\s+line 3")
    assert [m.group(1) for m in re.finditer(r"#\d+ (\S+)", where.text)] == ["fact"] * 4 + [
        "<module>"
    ]
    console.send("return", r"^> fact \(python3 pid \d+\) fact\.py line 4$")
    console.send("p n", r"^2$")
    console.send("c", r"^Out\[\d+\]: 24$")


def test_step_prefix_stops_at_the_first_line(console: Console) -> None:
    console.send('%step call("outer", 2)', r"^> <module> \(main pid \d+\) cell line 1$")
    console.send("where", r"^  -> #0 <module>\s+\[main pid \d+\]\s+line 1\s+call")
    console.send("s", r"^> outer \(python3 pid \d+\) outer\.py line 3$")
    done = console.send("c", r"^Out\[\d+\]: 4$")
    assert done.prompt == "in"
    console.send("%breaks", r"^no breakpoints")


def test_quit_aborts_the_render_and_kernels_stay_usable(console: Console) -> None:
    console.send("%break inner", r"^Breakpoint \d+ at inner, inner\.py line 2$")
    console.send('call("outer", 3)', r"^> inner ")
    aborted = console.send("quit", r"^aborting the render$", r"CallAborted")
    assert aborted.prompt == "in"
    console.send("%clear", r"^Deleted breakpoint")
    console.send('call("outer", 3)', r"^Out\[\d+\]: 9$")
    console.send("1 + 1", r"^Out\[\d+\]: 2$")


# ------------------------------------------------------------------ headless (JupyterLab-like)

INNER_CELL = "%%function inner\ndef inner(x):\n    y = x * 2\n    return y + 1"
OUTER_CELL = (
    "%%function outer\ndef outer(n):\n    total = 0\n"
    '    for i in range(n):\n        total += call("inner", i)\n    return total'
)


def _define(kc: Any) -> None:
    for cell in (INNER_CELL, OUTER_CELL):
        reply, msgs = run(kc, cell, timeout=STARTUP_TIMEOUT)
        assert reply["status"] == "ok", msgs


def _stdin_request(kc: Any, timeout: float = 60) -> dict[str, Any]:
    return kc.get_stdin_msg(timeout=timeout)


def test_notebook_cell_prompts_on_stdin_parented_to_its_request(fresh_meta_kernel: Any) -> None:
    kc = fresh_meta_kernel.kc
    _define(kc)
    reply, msgs = run(kc, "%break inner:4")
    assert reply["status"] == "ok" and "Breakpoint 1 at inner, cell line 4" in stream_text(msgs)
    msg_id = send_execute(kc, 'call("outer", 2)', allow_stdin=True)
    request = _stdin_request(kc)
    assert request["msg_type"] == "input_request"
    assert request["parent_header"]["msg_id"] == msg_id
    assert request["content"]["prompt"] == mc.PROMPT
    kc.input("where")
    request = _stdin_request(kc)
    kc.input("p y")
    _stdin_request(kc)
    kc.input("c")
    _stdin_request(kc)  # second hit
    kc.input("c")
    assert wait_reply(kc, msg_id)["content"]["status"] == "ok"
    msgs = collect_iopub(kc, msg_id)
    text = strip_ansi(stream_text(msgs))
    assert "> inner (python3 pid" in text and "cell line 4" in text
    assert re.search(r"-> #0 inner\s+\[python3 pid \d+\]\s+line 4", text)
    assert re.search(r"#2 <module>\s+\[main pid \d+\]", text)
    assert re.search(r"^0$", text, re.M), text
    assert result_text(msgs) == "4"
    seen = {m["msg_type"] for m in iopub_log(kc)}
    assert "debug_event" not in seen, "no debug_event without a frontend debugger"


def test_without_stdin_the_stop_is_shown_and_the_render_runs_on(fresh_meta_kernel: Any) -> None:
    kc = fresh_meta_kernel.kc
    _define(kc)
    run(kc, "%break inner")
    reply, msgs = run(kc, 'call("outer", 2)', timeout=STEP_TIMEOUT, allow_stdin=False)
    assert reply["status"] == "ok" and result_text(msgs) == "4"
    text = strip_ansi(stream_text(msgs))
    assert text.count("cannot answer input requests: continuing") == 2
    assert re.search(r"-> #0 inner\s+\[python3 pid \d+\]\s+line 3", text)
    with pytest.raises(queue.Empty):
        kc.get_stdin_msg(timeout=0.5)


def test_frontend_debugger_handles_the_stops_no_prompt(fresh_meta_kernel: Any) -> None:
    from test_debugger import INITIALIZE, DapClient

    kc = fresh_meta_kernel.kc
    _define(kc)
    run(kc, "%break inner")
    dap = DapClient(kc)
    try:
        assert dap.request("initialize", INITIALIZE)["success"] is True
        assert dap.request("attach", {})["success"] is True
        msg_id = send_execute(kc, 'call("outer", 1)', allow_stdin=True)
        dap.wait_event("stopped")
        assert [f["name"].split()[0] for f in dap.frames()] == ["inner", "outer", "<module>"]
        with pytest.raises(queue.Empty):
            kc.get_stdin_msg(timeout=1.0)  # the panel handles it: no (mkdbg) prompt
        assert dap.request("continue", {"threadId": 1})["success"] is True
        assert dap.reply(msg_id)["status"] == "ok"
        assert dap.request("disconnect", {})["success"] is True
    finally:
        dap.close()


# ------------------------------------------------------------------ pure parts


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("where", mc.Command("where")),
        ("bt", mc.Command("where")),
        ("w", mc.Command("where")),
        ("  up  ", mc.Command("up", "", (1,))),
        ("up 2", mc.Command("up", "2", (2,))),
        ("d", mc.Command("down", "", (1,))),
        ("frame 0", mc.Command("frame", "0", (0,))),
        ("list", mc.Command("list")),
        ("l 7", mc.Command("list", "7", (7,))),
        ("list 3, 9", mc.Command("list", "3, 9", (3, 9))),
        ("p x + 1", mc.Command("p", "x + 1")),
        ("pp {'a': [1, 2]}", mc.Command("pp", "{'a': [1, 2]}")),
        ("locals", mc.Command("locals")),
        ("a", mc.Command("args")),
        ("n", mc.Command("next")),
        ("s", mc.Command("step")),
        ("r", mc.Command("return")),
        ("c", mc.Command("continue")),
        ("cont", mc.Command("continue")),
        ("q", mc.Command("quit")),
        ("exit", mc.Command("quit")),
        ("help", mc.Command("help")),
        ("?", mc.Command("help")),
    ],
)
def test_parse_command(line: str, expected: mc.Command) -> None:
    assert mc.parse_command(line) == expected


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("bogus", "unknown command 'bogus'"),
        ("p", "usage: p EXPRESSION"),
        ("p x +", "SyntaxError"),
        ("pp ", "usage: pp EXPRESSION"),
        ("frame", "usage: frame N"),
        ("frame -1", "at least 0"),
        ("up x", "must be an integer"),
        ("up 0", "at least 1"),
        ("list 9, 3", "comes before"),
        ("list 1, 2, 3", "usage: list"),
        ("next 3", "takes no argument"),
        ("where now", "takes no argument"),
    ],
)
def test_parse_command_errors(line: str, message: str) -> None:
    with pytest.raises(mc.CommandError, match=re.escape(message)):
        mc.parse_command(line)


def test_empty_line_repeats_stepping_commands_only() -> None:
    assert mc.parse_command("") is None
    assert mc.parse_command("  ", mc.Command("next")) == mc.Command("next")
    assert mc.parse_command("", mc.Command("p", "x")) is None


def test_step_prefix() -> None:
    assert mc.split_step_prefix('%step call("outer", 3)') == 'call("outer", 3)'
    assert mc.split_step_prefix("%step\nx = 1\ny = 2") == "x = 1\ny = 2"
    assert mc.split_step_prefix("%stepper x") is None
    assert mc.split_step_prefix("x = 1") is None
    assert mc.split_step_prefix("%step") == ""


def test_resolve_break_functions_cells_and_files(tmp_path: Path) -> None:
    cell_dir = str(tmp_path / "cells")
    cell = os.path.join(cell_dir, "123.py")
    cell_source = '# %%function inner\ndef inner(x):\n    """Doc."""\n    y = x\n\n    return y'
    file_path = tmp_path / "outer.py"
    file_path.write_text("def outer(n):\n    return n\n", encoding="utf-8")
    functions = {"inner": (cell, cell_source), "outer": (str(file_path), file_path.read_text())}

    loc = mc.resolve_break("inner", functions, cell_dir)
    assert (loc.path, loc.line, loc.label) == (cell, 4, "inner, cell line 4"), "docstring skipped"
    assert mc.resolve_break("inner:6", functions, cell_dir).line == 6
    loc = mc.resolve_break("outer", functions, cell_dir)
    assert (loc.line, loc.label) == (2, "outer, outer.py line 2")
    loc = mc.resolve_break(f"{file_path}:2", functions, cell_dir)
    assert (loc.path, loc.label) == (str(file_path), "outer, outer.py line 2")
    other = tmp_path / "plain.py"
    other.write_text("a = 1\nb = 2\n", encoding="utf-8")
    assert mc.resolve_break(f"{other}:2", functions, cell_dir).label == "plain.py line 2"

    with pytest.raises(mc.BreakError, match="no function named 'nope'"):
        mc.resolve_break("nope", functions, cell_dir)
    with pytest.raises(mc.BreakError, match="outside 1..6"):
        mc.resolve_break("inner:99", functions, cell_dir)
    with pytest.raises(mc.BreakError, match="blank, a comment or not code; the next line"):
        mc.resolve_break("inner:5", functions, cell_dir)
    with pytest.raises(mc.BreakError, match="needs a line"):
        mc.resolve_break(str(other), functions, cell_dir)
    with pytest.raises(mc.BreakError, match="cannot read"):
        mc.resolve_break(str(tmp_path / "missing.py") + ":1", functions, cell_dir)


def test_source_helpers() -> None:
    source = "def f(a, /, b, *args, c, **kw):\n    def g(z):\n        return z\n    return g(a)\n"
    assert mc.argument_names(source, "f", 4) == ["a", "b", "args", "c", "kw"]
    assert mc.argument_names(source, "g", 3) == ["z"]
    assert mc.argument_names(source, "h", 3) == []
    assert mc.first_body_line(source, "f") == 2
    assert {1, 2, 3, 4} <= mc.executable_lines(source)
    assert mc.first_statement_line("\n\n# c\nx = 1\n") == 4
    assert mc.first_statement_line("%time x") == 1


def _frames() -> list[mc.Frame]:
    return [
        mc.Frame(0, 11, "inner", "python3 pid 4242", 3, "/c/1.py", "    return y + 1"),
        mc.Frame(1, 12, "outer", "python3 pid 4243", 5, "/c/2.py", '        total += call("i", i)'),
        mc.Frame(2, 13, "<module>", "main pid 4240", 1, "/c/3.py", 'call("outer", 3)'),
    ]


def test_format_where_and_header() -> None:
    assert mc.format_where(_frames(), 0, color=False).splitlines() == [
        "  -> #0 inner    [python3 pid 4242]  line 3   return y + 1",
        '     #1 outer    [python3 pid 4243]  line 5   total += call("i", i)',
        '     #2 <module> [main pid 4240]     line 1   call("outer", 3)',
    ]
    assert "-> #1 outer" in mc.format_where(_frames(), 1, color=False)
    colored = mc.format_where(_frames(), 0, color=True)
    assert "\x1b[" in colored and strip_ansi(colored) == mc.format_where(_frames(), 0, False)
    header = mc.format_header(_frames()[0], "/c", color=False)
    assert header == "> inner (python3 pid 4242) cell line 3\n      3     return y + 1\n"
    assert mc.format_header(_frames()[0], "/elsewhere", False).startswith(
        "> inner (python3 pid 4242) 1.py line 3\n"
    )


def test_frames_from_the_merged_stack_trace() -> None:
    stack = [
        {
            "id": 7,
            "name": "c (Current frame)  [python3 pid 19639]",
            "line": 4,
            "source": {"path": "/x/c.py"},
        },
        {"id": 8, "name": "<module>  [main pid 19621]", "line": 2, "source": {}},
    ]
    frames = mc.frames_from_stack(stack)
    assert [(f.function, f.kernel, f.line, f.path) for f in frames] == [
        ("c", "python3 pid 19639", 4, "/x/c.py"),
        ("<module>", "main pid 19621", 2, ""),
    ]


def test_messages() -> None:
    tb = "evaluate failed: Traceback (most recent call last):\n  File ...\nNameError: name 'q'\n"
    assert mc.error_text(tb) == "NameError: name 'q'"
    body = {"text": "ValueError       (note: paused at: c)", "description": "bad 2"}
    assert mc.exception_summary(body) == "ValueError: bad 2"
    listing = mc.format_listing(["a = 1", "b = 2", "c = 3"], 1, 9, 2, {3}, color=False)
    assert listing.splitlines() == ["    1    a = 1", "    2 -> b = 2", "    3 B  c = 3"]
