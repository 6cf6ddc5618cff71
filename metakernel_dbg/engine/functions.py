"""Function definitions: `%%function` cells and function directories, checked before use.

A definition is validated here (syntax, a `def NAME` at top level) so that mistakes are
reported in the defining cell like any Python error, before a kernel is involved.
"""

from __future__ import annotations

import ast
import os
import re
import shlex
from dataclasses import dataclass

from ipykernel.compiler import murmur2_x86

DEFAULT_KERNEL = "python3"
_HASH_SEED = 0xC70F6907
_KERNEL_LINE = re.compile(r"^#\s*kernel:\s*(\S+)\s*$")


class DefinitionError(Exception):
    """A definition that cannot be used; `lineno` points into the cell or file when known."""

    def __init__(self, message: str, lineno: int | None = None) -> None:
        super().__init__(message)
        self.lineno = lineno


@dataclass(frozen=True)
class FunctionDef:
    """A function as it will run in its kernel.

    `source` is what the child executes and `filename` the path its code objects carry:
    for a cell, the cell's own debugger path (hash of the full cell text, magic line
    included, which becomes a comment so line numbers do not move); for a file, its path.
    """

    name: str
    kernel: str
    source: str
    filename: str


def cell_path(cell_dir: str, code: str) -> str:
    """The path JupyterLab computes for a cell (murmur2 of its text, ipykernel's scheme)."""
    return os.path.join(cell_dir, f"{murmur2_x86(code, _HASH_SEED)}.py")


def parse_function_cell(cell: str, cell_dir: str) -> FunctionDef:
    """Parse a `%%function NAME [--kernel SPEC]` cell."""
    first, _, body = cell.partition("\n")
    try:
        words = shlex.split(first)
    except ValueError as exc:
        raise DefinitionError(f"%%function: {exc}", 1) from None
    usage = "usage: %%function NAME [--kernel KERNELSPEC]"
    if not words or words[0] != "%%function" or len(words) not in (2, 4):
        raise DefinitionError(usage, 1)
    name, kernel = words[1], DEFAULT_KERNEL
    if len(words) == 4:
        if words[2] != "--kernel":
            raise DefinitionError(usage, 1)
        kernel = words[3]
    source = "# " + first + "\n" + body
    check_source(name, source, f"cell of {name}")
    return FunctionDef(name, kernel, source, cell_path(cell_dir, cell))


def check_source(name: str, source: str, where: str) -> None:
    """Compile-check and require a top-level `def NAME`."""
    if not name.isidentifier():
        raise DefinitionError(f"{name!r} is not a valid function name", 1)
    try:
        tree = ast.parse(source, filename=where)
    except SyntaxError as exc:
        raise DefinitionError(
            f"SyntaxError in {where}: {exc.msg} (line {exc.lineno})", exc.lineno
        ) from None
    defined = {
        node.name for node in tree.body if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
    }
    if name not in defined:
        raise DefinitionError(
            f"{where} must define 'def {name}(...)'; it defines "
            f"{', '.join(sorted(defined)) or 'no function'}"
        )


def load_file(path: str) -> FunctionDef:
    """A function file: `NAME.py` defining `def NAME`, optional first line `# kernel: SPEC`."""
    name = os.path.splitext(os.path.basename(path))[0]
    with open(path, encoding="utf-8") as f:
        source = f.read()
    first = source.split("\n", 1)[0]
    match = _KERNEL_LINE.match(first)
    kernel = match.group(1) if match else DEFAULT_KERNEL
    check_source(name, source, path)
    return FunctionDef(name, kernel, source, os.path.abspath(path))


def load_directory(directory: str) -> list[FunctionDef]:
    """Every `*.py` of a directory, one function per file (sorted by name)."""
    if not os.path.isdir(directory):
        raise DefinitionError(f"no such directory: {directory}")
    files = sorted(f for f in os.listdir(directory) if f.endswith(".py") and f[0] != "_")
    if not files:
        raise DefinitionError(f"no function files (*.py) in {directory}")
    return [load_file(os.path.join(directory, f)) for f in files]
