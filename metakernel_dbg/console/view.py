"""What the console shows at one stop: the buffered output and the commands that look
around without resuming (where, up, down, frame, list, p, pp, locals, args, help)."""

from __future__ import annotations

import ast
from typing import TYPE_CHECKING, Any

from .core import (
    HELP,
    LIST_CONTEXT,
    RED,
    Command,
    CommandError,
    Frame,
    argument_names,
    format_header,
    format_listing,
    format_where,
    paint,
)

if TYPE_CHECKING:
    from .tracer import RenderContext, Tracer

Json = dict[str, Any]


class Output:
    """Buffered stdout of one stop, flushed before each prompt."""

    def __init__(self, tracer: Tracer, ctx: RenderContext) -> None:
        self.tracer, self.ctx = tracer, ctx
        self.parts: list[str] = []

    def write(self, text: str) -> None:
        self.parts.append(text)

    def line(self, text: str) -> None:
        self.parts.append(text + "\n")

    def error(self, text: str) -> None:
        self.line(paint(f"*** {text}", RED, self.ctx.color))

    def flush(self) -> None:
        if self.parts:
            text, self.parts = "".join(self.parts), []
            self.tracer.publish(text, self.ctx.parent)


class StopView:
    """The frames of one stop and the selected one; runs the non-resuming commands."""

    def __init__(self, tracer: Tracer, frames: list[Frame]) -> None:
        self.tracer = tracer
        self.frames = frames
        self.current = 0

    @property
    def frame(self) -> Frame:
        if not self.frames:
            raise CommandError("no frames (the stack could not be read)")
        return self.frames[self.current]

    def run(self, command: Command, out: Output) -> None:
        getattr(self, f"do_{command.name}")(command, out)

    def _select(self, index: int, out: Output) -> None:
        if not self.frames:
            raise CommandError("no frames")
        if index < 0:
            raise CommandError("newest frame")
        if index >= len(self.frames):
            raise CommandError("oldest frame")
        self.current = index
        out.write(format_header(self.frame, self.tracer.cell_dir, out.ctx.color))

    def do_help(self, command: Command, out: Output) -> None:
        out.write(HELP)

    def do_where(self, command: Command, out: Output) -> None:
        out.write(format_where(self.frames, self.current, out.ctx.color))

    def do_up(self, command: Command, out: Output) -> None:
        if self.current >= len(self.frames) - 1:
            raise CommandError("oldest frame")
        self._select(min(self.current + command.numbers[0], len(self.frames) - 1), out)

    def do_down(self, command: Command, out: Output) -> None:
        if self.current <= 0:
            raise CommandError("newest frame")
        self._select(max(self.current - command.numbers[0], 0), out)

    def do_frame(self, command: Command, out: Output) -> None:
        if command.numbers[0] >= len(self.frames):
            raise CommandError(f"no frame #{command.numbers[0]} (see where)")
        self._select(command.numbers[0], out)

    def do_list(self, command: Command, out: Output) -> None:
        frame = self.frame
        lines = self.tracer.source_lines(frame.path)
        if not lines:
            raise CommandError(f"no source for {frame.path or frame.function}")
        if len(command.numbers) == 2:
            first, last = command.numbers
        else:
            center = command.numbers[0] if command.numbers else frame.line
            first, last = center - LIST_CONTEXT, center + LIST_CONTEXT
        book = self.tracer.session.book.arguments_for(frame.path)
        breaks = {bp["line"] for bp in book.get("breakpoints", [])}
        out.write(format_listing(lines, first, last, frame.line, breaks, out.ctx.color))

    def _evaluate(self, expression: str) -> str:
        body = self.tracer.dap(
            "evaluate", {"expression": expression, "frameId": self.frame.id, "context": "repl"}
        )
        return str(body.get("result", ""))

    def do_p(self, command: Command, out: Output) -> None:
        out.line(self._evaluate(command.arg))

    def do_pp(self, command: Command, out: Output) -> None:
        if not self.frame.python:  # a JS frame's values print as util.inspect writes them
            self.do_p(command, out)
            return
        result = self._evaluate(f"__import__('pprint').pformat(({command.arg}), width=79)")
        try:
            text = ast.literal_eval(result)
        except (ValueError, SyntaxError):
            text = result
        out.line(str(text))

    def _locals(self) -> list[Json]:
        scopes = self.tracer.dap("scopes", {"frameId": self.frame.id}).get("scopes", [])
        if not scopes:
            return []
        ref = scopes[0]["variablesReference"]
        variables = self.tracer.dap("variables", {"variablesReference": ref}).get("variables", [])
        return [
            v
            for v in variables
            if not (v.get("presentationHint") or {}).get("kind") == "virtual"
            and not str(v.get("name", "")).endswith(" variables")
        ]

    def do_locals(self, command: Command, out: Output) -> None:
        variables = self._locals()
        if not variables:
            out.line("(no local variables)")
        for v in variables:
            out.line(f"{v['name']} = {v.get('value', '')}")

    def do_args(self, command: Command, out: Output) -> None:
        frame = self.frame
        source = "\n".join(self.tracer.source_lines(frame.path))
        names = argument_names(source, frame.function, frame.line)
        if not names:
            out.line("(no arguments)")
            return
        values = {v["name"]: v.get("value", "") for v in self._locals()}
        for name in names:
            out.line(f"{name} = {values.get(name, '<unknown>')}")
