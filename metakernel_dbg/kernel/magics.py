"""Magics the meta-kernel handles itself (everything else runs in the main kernel).

A cell is a meta-kernel magic when it starts with `%%function`, or when its first line is
one of the line magics below. Errors are raised as `MagicError` and shown in the cell.
"""

from __future__ import annotations

import shlex
from collections.abc import Awaitable, Callable
from typing import Any

from ..engine.functions import DefinitionError, load_directory, parse_function_cell


class MagicError(Exception):
    """A magic that failed; shown in the cell as `ename: message`."""

    def __init__(
        self, message: str, ename: str = "UsageError", traceback_lines: list[str] | None = None
    ) -> None:
        super().__init__(message)
        self.ename = ename
        self.traceback_lines = traceback_lines or [f"{ename}: {message}"]


Magic = Callable[[Any, list[str], str], Awaitable[None]]
#: `%NAME CODE`: prepares for CODE and returns the code to run in the main kernel
PrefixMagic = Callable[[Any, str], Awaitable[str]]
LINE_MAGICS: dict[str, Magic] = {}
#: by name: (the cell's CODE after `%NAME`, or None if the cell does not start so; the magic)
PREFIX_MAGICS: dict[str, tuple[Callable[[str], str | None], PrefixMagic]] = {}


def line_magic(name: str) -> Callable[[Magic], Magic]:
    def register(fn: Magic) -> Magic:
        LINE_MAGICS[name] = fn
        return fn

    return register


def prefix_magic(
    name: str, split: Callable[[str], str | None]
) -> Callable[[PrefixMagic], PrefixMagic]:
    def register(fn: PrefixMagic) -> PrefixMagic:
        PREFIX_MAGICS[name] = (split, fn)
        return fn

    return register


async def run_magic(kernel: Any, code: str) -> bool | str | None:
    """Handle `code` if it is a meta-kernel magic. None: run it in the main kernel as it is;
    a str: run that code instead (a prefix magic); True: handled."""
    if code.startswith("%%function"):
        await define_function(kernel, code)
        return True
    for split, prefix in PREFIX_MAGICS.values():
        rest = split(code)
        if rest is not None:
            return await prefix(kernel, rest)
    first, _, rest = code.strip().partition("\n")
    if not first.startswith("%") or first.startswith("%%"):
        return None
    name, _, arg = first[1:].partition(" ")
    magic = LINE_MAGICS.get(name)
    if magic is None:
        return None
    try:
        words = shlex.split(arg)
    except ValueError as exc:
        raise MagicError(f"%{name}: {exc}") from None
    await magic(kernel, words, rest)
    return True


def _definition_error(exc: DefinitionError) -> MagicError:
    ename = "SyntaxError" if str(exc).startswith("SyntaxError") else "DefinitionError"
    return MagicError(str(exc), ename)


async def define_function(kernel: Any, cell: str) -> None:
    """`%%function NAME [--kernel SPEC]`: define NAME in its own kernel."""
    engine = kernel.engine
    try:
        fdef = parse_function_cell(cell, engine.cell_dir)
    except DefinitionError as exc:
        raise _definition_error(exc) from None
    instance = await engine.run(engine.define(fdef))
    kernel.publish(
        "stream",
        {
            "name": "stdout",
            "text": f"{fdef.name} defined in kernel {fdef.kernel} (pid {instance.child.pid})\n",
        },
    )


@line_magic("functions")
async def list_functions(kernel: Any, words: list[str], rest: str) -> None:
    """`%functions`: the functions, their kernelspecs and live instances."""
    rows = kernel.engine.describe_functions()
    if not rows:
        text = "no functions defined (use %%function NAME or %load_functions DIR)\n"
    else:
        width = max(len(r["name"]) for r in rows)
        text = "".join(
            f"{r['name']:<{width}}  {r['kernel']:<10}  "
            f"{', '.join(r['instances']) or 'no live instance'}\n"
            for r in rows
        )
    kernel.publish("stream", {"name": "stdout", "text": text})


@line_magic("load_functions")
async def load_functions(kernel: Any, words: list[str], rest: str) -> None:
    """`%load_functions DIR`: one function per file, `NAME.py` defining `def NAME`."""
    if len(words) != 1 or rest.strip():
        raise MagicError("usage: %load_functions DIR")
    try:
        fdefs = load_directory(words[0])
    except DefinitionError as exc:
        raise _definition_error(exc) from None
    engine = kernel.engine
    instances = await engine.run(engine.define_many(fdefs))
    text = "".join(
        f"{f.name} defined in kernel {f.kernel} (pid {i.child.pid})\n"
        for f, i in zip(fdefs, instances, strict=True)
    )
    kernel.publish("stream", {"name": "stdout", "text": text})
