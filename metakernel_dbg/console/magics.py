"""The console tracer's magics; each asks the kernel's tracer (see tracer.py)."""

from __future__ import annotations

from typing import Any

from ..kernel.magics import MagicError, line_magic, prefix_magic
from .core import split_step_prefix


@line_magic("break")
async def break_magic(kernel: Any, words: list[str], rest: str) -> None:
    """`%break FUNC[:LINE]` / `%break PATH:LINE`: stop there (console prompt)."""
    await kernel.tracer.magic_break(words, rest, temporary=False)


@line_magic("tbreak")
async def tbreak_magic(kernel: Any, words: list[str], rest: str) -> None:
    """`%tbreak ...`: like %break, removed after its first hit."""
    await kernel.tracer.magic_break(words, rest, temporary=True)


@line_magic("breaks")
async def breaks_magic(kernel: Any, words: list[str], rest: str) -> None:
    """`%breaks`: the console's breakpoints, numbered."""
    await kernel.tracer.magic_breaks()


@line_magic("clear")
async def clear_magic(kernel: Any, words: list[str], rest: str) -> None:
    """`%clear [N|all]`: remove breakpoint N (or all of them)."""
    await kernel.tracer.magic_clear(words, rest)


@line_magic("pdb")
async def pdb_magic(kernel: Any, words: list[str], rest: str) -> None:
    """`%pdb [on|off]`: stop where an exception is raised, in any kernel of the render."""
    await kernel.tracer.magic_pdb(words, rest)


@line_magic("trace")
async def trace_magic(kernel: Any, words: list[str], rest: str) -> None:
    """`%trace [--json PATH]`: the merged trace of the last failed render."""
    await kernel.tracer.magic_trace(words, rest)


@prefix_magic("step", split_step_prefix)
async def step_magic(kernel: Any, code: str) -> str:
    """`%step CODE`: run CODE stopped at its first line."""
    if not code.strip():
        raise MagicError("usage: %step CODE (run CODE, stopped at its first line)")
    kernel.tracer.arm_step()
    return code
