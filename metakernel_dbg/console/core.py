"""The console tracer's sans-IO core: pdb-style commands, breakpoint locations, and the
text of stops (headers, `where`, listings). Pure functions over plain data, tested without
kernels; `console.py` is the I/O shell around them."""

from __future__ import annotations

import ast
import os
import re
import types
from dataclasses import dataclass
from typing import Any

Json = dict[str, Any]

PROMPT = "(mkdbg) "
LIST_CONTEXT = 5

# --------------------------------------------------------------------------- commands

_ALIASES = {
    "where": "where",
    "w": "where",
    "bt": "where",
    "up": "up",
    "u": "up",
    "down": "down",
    "d": "down",
    "frame": "frame",
    "f": "frame",
    "list": "list",
    "l": "list",
    "p": "p",
    "pp": "pp",
    "locals": "locals",
    "args": "args",
    "a": "args",
    "next": "next",
    "n": "next",
    "step": "step",
    "s": "step",
    "return": "return",
    "r": "return",
    "continue": "continue",
    "cont": "continue",
    "c": "continue",
    "quit": "quit",
    "q": "quit",
    "exit": "quit",
    "help": "help",
    "h": "help",
    "?": "help",
}
#: console command -> DAP request that resumes the stopped kernel
RESUME = {"next": "next", "step": "stepIn", "return": "stepOut", "continue": "continue"}
#: commands an empty line repeats (pdb repeats the last command)
_REPEATABLE = {"next", "step", "return", "continue", "up", "down", "list", "where"}

HELP = """\
where (w, bt)      the merged stack, innermost first; -> marks the selected frame
up [N] / down [N]  select an older / newer frame;  frame N (f N): select frame #N
list [N | A,B]     source around the current line (or line N, or lines A..B)
p EXPR / pp EXPR   evaluate in the selected frame's kernel and scope (pp: pretty-print)
locals / args (a)  the selected frame's local variables / arguments
next (n)           run to the next line (a callee's return stops in its caller)
step (s)           like next, but step into a call(...) in the callee's kernel
return (r)         run until the current function returns, stop in its caller
continue (c)       run until the next breakpoint
quit (q)           abort the render (the kernels stay usable)
An empty line repeats next/step/return/continue/up/down/list/where.
"""


class CommandError(ValueError):
    """A command line that cannot be run; shown as ``*** message`` and prompted again."""


@dataclass(frozen=True)
class Command:
    """A parsed prompt command: canonical ``name``, the raw ``arg`` text, numbers."""

    name: str
    arg: str = ""
    numbers: tuple[int, ...] = ()


def _number(text: str, what: str, minimum: int) -> int:
    try:
        value = int(text)
    except ValueError:
        raise CommandError(f"{what} must be an integer, got {text!r}") from None
    if value < minimum:
        raise CommandError(f"{what} must be at least {minimum}, got {value}")
    return value


def parse_command(line: str, last: Command | None = None, python: bool = True) -> Command | None:
    """Parse one prompt line; None for an empty line with nothing to repeat. `python`: the
    selected frame runs Python, so `p` / `pp` expressions are checked as Python here."""
    text = line.strip()
    if not text:
        return last if last is not None and last.name in _REPEATABLE else None
    word, _, rest = text.partition(" ")
    rest = rest.strip()
    name = _ALIASES.get(word)
    if name is None:
        raise CommandError(f"unknown command {word!r} (type help)")
    if name in ("p", "pp"):
        if not rest:
            raise CommandError(f"usage: {name} EXPRESSION")
        try:
            if python:
                compile(rest, "<expression>", "eval")
        except SyntaxError as exc:
            raise CommandError(f"SyntaxError: {exc.msg}") from None
        return Command(name, rest)
    if name in ("up", "down"):
        return Command(name, rest, (_number(rest, "count", 1) if rest else 1,))
    if name == "frame":
        if not rest:
            raise CommandError("usage: frame N (N as listed by where)")
        return Command(name, rest, (_number(rest, "frame number", 0),))
    if name == "list":
        if not rest:
            return Command(name)
        parts = [p.strip() for p in rest.split(",")]
        if len(parts) > 2:
            raise CommandError("usage: list [LINE | FIRST,LAST]")
        numbers = tuple(_number(p, "line", 1) for p in parts)
        if len(numbers) == 2 and numbers[1] < numbers[0]:
            raise CommandError(f"list {rest}: the last line comes before the first")
        return Command(name, rest, numbers)
    if rest and name != "help":
        raise CommandError(f"{word} takes no argument")
    return Command(name)


# --------------------------------------------------------------------------- source


def executable_lines(source: str, filename: str = "<source>") -> set[int]:
    """Lines a line event (so a breakpoint) can happen on, from the compiled code."""
    try:
        code = compile(source, filename, "exec")
    except SyntaxError:
        return set()
    lines: set[int] = set()
    todo = [code]
    while todo:
        co = todo.pop()
        lines.update(line for _, _, line in co.co_lines() if line)
        todo.extend(c for c in co.co_consts if isinstance(c, types.CodeType))
    return lines


def _function_nodes(source: str) -> list[ast.FunctionDef | ast.AsyncFunctionDef]:
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return []
    return [n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)]


def first_body_line(source: str, name: str) -> int | None:
    """First line of ``def name``'s body that runs (its docstring skipped), like pdb."""
    for node in _function_nodes(source):
        if node.name == name:
            body = node.body
            doc = (
                body
                and isinstance(body[0], ast.Expr)
                and isinstance(body[0].value, ast.Constant)
                and isinstance(body[0].value.value, str)
            )
            stmt = body[1] if doc and len(body) > 1 else body[0]
            return stmt.lineno
    return _js_first_body_line(source, name)


def _js_first_body_line(source: str, name: str) -> int | None:
    """The same for a JavaScript `function name(...) {`: its first line of code after it."""
    lines = source.splitlines()
    head = re.compile(rf"^\s*(?:async\s+)?function\s*\*?\s*{re.escape(name)}\s*\(")
    start = next((i for i, text in enumerate(lines) if head.match(text)), None)
    if start is None:
        return None
    for number, text in enumerate(lines[start + 1 :], start + 2):
        code = text.strip()
        if code and not code.startswith(("//", "/*", "*")) and code != "}":
            return number
    return None


def argument_names(source: str, name: str, line: int) -> list[str]:
    """Parameter names of the ``def name`` around ``line`` (innermost), in order."""
    best = None
    for node in _function_nodes(source):
        if node.name == name and node.lineno <= line <= (node.end_lineno or line):
            if best is None or node.lineno > best.lineno:
                best = node
    if best is None:
        return []
    a = best.args
    names = [x.arg for x in (*a.posonlyargs, *a.args)]
    if a.vararg:
        names.append(a.vararg.arg)
    names += [x.arg for x in a.kwonlyargs]
    if a.kwarg:
        names.append(a.kwarg.arg)
    return names


def first_statement_line(code: str) -> int:
    """Line of the first statement of a cell (1 if it is not plain Python)."""
    try:
        tree = ast.parse(code)
    except SyntaxError:
        return 1
    return tree.body[0].lineno if tree.body else 1


class BreakError(ValueError):
    """A ``%break`` location that cannot be resolved."""


@dataclass(frozen=True)
class Location:
    path: str
    line: int
    label: str  # "inner, cell line 3" / "inner.py line 3"


def describe_location(path: str, line: int, cell_dir: str) -> str:
    """``cell line 3`` for a notebook cell, ``inner.py line 3`` for a file."""
    if path.startswith(cell_dir.rstrip(os.sep) + os.sep):
        return f"cell line {line}"
    return f"{os.path.basename(path) or path} line {line}"


def resolve_break(
    spec: str, functions: dict[str, tuple[str, str]], cell_dir: str, cwd: str = ""
) -> Location:
    """``FUNC[:LINE]`` or ``PATH:LINE`` -> where the breakpoint goes.

    ``functions`` maps a name to ``(filename, source)``; LINE counts lines of the function's
    cell (the ``%%function`` line is line 1, as in JupyterLab) or file.
    """
    target, sep, line_text = spec.rpartition(":")
    if not sep or not line_text.strip().isdigit():
        target, line_text = spec, ""
    line = int(line_text) if line_text else None
    by_path = {os.path.abspath(f): (n, s) for n, (f, s) in functions.items()}
    name: str | None = None
    if target in functions:
        name, (path, source) = target, functions[target]
    elif os.sep in target or target.endswith(".py") or (cwd and os.path.exists(target)):
        path = os.path.abspath(os.path.join(cwd, target)) if cwd else os.path.abspath(target)
        if line is None:
            raise BreakError(f"%break {spec}: a file needs a line (PATH:LINE)")
        if path in by_path:
            name, source = by_path[path]
        else:
            try:
                with open(path, encoding="utf-8") as f:
                    source = f.read()
            except OSError as exc:
                raise BreakError(f"%break {spec}: cannot read {path}: {exc.strerror}") from None
    else:
        known = ", ".join(sorted(functions)) or "none defined"
        raise BreakError(f"%break {spec}: no function named {target!r} (known: {known})")
    if line is None:
        assert name is not None
        line = first_body_line(source, name)
        if line is None:
            raise BreakError(f"%break {spec}: no 'def {name}' in its source")
    count = len(source.splitlines())
    if not 1 <= line <= count:
        raise BreakError(f"%break {spec}: line {line} is outside 1..{count}")
    code = executable_lines(source, path)
    if code and line not in code:
        later = [n for n in sorted(code) if n > line]
        hint = f"; the next line with code is {later[0]}" if later else ""
        raise BreakError(f"%break {spec}: line {line} is blank, a comment or not code{hint}")
    where = describe_location(path, line, cell_dir)
    return Location(path, line, f"{name}, {where}" if name else where)


# --------------------------------------------------------------------------- formatting

RESET, BOLD, DIM, RED = "\x1b[0m", "\x1b[1m", "\x1b[2m", "\x1b[31m"


def paint(text: str, code: str, color: bool) -> str:
    return f"{code}{text}{RESET}" if color and text else text


@dataclass
class Frame:
    """One row of the merged stack, as the console shows it."""

    index: int
    id: int
    function: str
    kernel: str  # "python3 pid 4242", "main pid 4240", "js pid 4243"
    line: int
    path: str
    source: str = ""  # the source line, unstripped

    @property
    def python(self) -> bool:
        """The frame runs Python (JS kernels' frames are labelled `js`)."""
        return not self.kernel.startswith("js ")


_FRAME_NAME = re.compile(r"^(?P<fn>.*?)(?: \(Current frame\))?  \[(?P<kernel>[^\]]*)\]$")


def split_frame_name(name: str) -> tuple[str, str]:
    """``"inner  [python3 pid 4242]"`` -> ``("inner", "python3 pid 4242")``."""
    match = _FRAME_NAME.match(name)
    if match is None:
        return name.replace(" (Current frame)", ""), "?"
    return match["fn"], match["kernel"]


def frames_from_stack(stack_frames: list[Json]) -> list[Frame]:
    """Console frames from the proxy's merged ``stackTrace`` frames (innermost first)."""
    out = []
    for index, sf in enumerate(stack_frames):
        fn, kernel = split_frame_name(sf.get("name", "?"))
        path = (sf.get("source") or {}).get("path", "")
        out.append(Frame(index, sf["id"], fn, kernel, sf.get("line", 0), path))
    return out


def format_source_line(line: int, text: str, color: bool, marker: str = "") -> str:
    """``      3     return y + 1`` (pdb-like: line number, then the line as written)."""
    head = f"{line:>5} {marker:<2}" if marker else f"{line:>7}"
    return f"{paint(head, DIM, color) if not marker else head} {text.rstrip()}"


def format_header(frame: Frame, cell_dir: str, color: bool) -> str:
    """The location shown at a stop::

    > inner (python3 pid 4242) cell line 3
          3     return y + 1
    """
    where = describe_location(frame.path, frame.line, cell_dir) if frame.path else "line ?"
    head = f"> {paint(frame.function, BOLD, color)} ({frame.kernel}) {where}"
    out = head + "\n"
    if frame.source:
        out += format_source_line(frame.line, frame.source, color) + "\n"
    return out


def format_where(frames: list[Frame], current: int, color: bool) -> str:
    """The merged stack, innermost first, one line per frame::

    -> #0 inner    [python3 pid 4242]  line 3   return y + 1
       #1 outer    [python3 pid 4243]  line 5   total += call("inner", i)
       #2 <module> [main pid 4240]     line 1   call("outer", 3)
    """
    if not frames:
        return "(no frames)\n"
    wn = max(len(f.function) for f in frames)
    wk = max(len(f.kernel) for f in frames) + 2
    wl = max(len(f"line {f.line}") for f in frames)
    lines = []
    for f in frames:
        mark = "->" if f.index == current else "  "
        kernel = paint(f"[{f.kernel}]".ljust(wk), DIM, color)
        row = f"  {mark} #{f.index} {f.function:<{wn}} {kernel}  {f'line {f.line}':<{wl}}"
        row += f"   {f.source.strip()}" if f.source.strip() else ""
        lines.append(paint(row, BOLD, color) if f.index == current else row)
    return "\n".join(lines) + "\n"


def format_listing(
    source_lines: list[str], first: int, last: int, current: int, breaks: set[int], color: bool
) -> str:
    """Lines ``first..last`` (1-based), ``->`` at the current line, ``B`` at breakpoints."""
    out = []
    for n in range(max(1, first), min(len(source_lines), last) + 1):
        marker = "->" if n == current else ("B" if n in breaks else "")
        text = format_source_line(n, source_lines[n - 1], color, marker or " ")
        out.append(paint(text, BOLD, color) if n == current else text)
    return "\n".join(out) + "\n" if out else "(no source lines there)\n"


def error_text(message: str) -> str:
    """The informative part of a failed request's message (a traceback's last line)."""
    for prefix in ("evaluate failed: ", "stackTrace failed: "):
        if message.startswith(prefix):
            message = message[len(prefix) :]
    lines = [ln.strip() for ln in message.strip().splitlines() if ln.strip()]
    return lines[-1] if lines else "failed"


def exception_summary(body: Json) -> str:
    """``ValueError: bad 2`` from a ``stopped`` (reason exception) event body."""
    kind = (body.get("text") or "").split(" ", 1)[0].strip() or "Exception"
    return f"{kind}: {body.get('description', '')}".rstrip(": ")


def split_step_prefix(code: str) -> str | None:
    """``%step CODE`` -> CODE (also ``%step`` alone on the first line, code below);
    None when the cell does not start with ``%step``."""
    match = re.match(r"%step(?=\s|$)[ \t]*", code)
    if match is None:
        return None
    rest = code[match.end() :]
    return rest[1:] if rest.startswith("\n") else rest


# --------------------------------------------------------------------------- the tracer
