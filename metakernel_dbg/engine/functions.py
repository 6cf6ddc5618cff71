"""Function definitions: `%%function` cells and function directories, checked before use.

A definition is validated here, by its language's runtime (syntax, a function of the
right name), so that mistakes are reported in the defining cell like any other error,
before a kernel is involved.
"""

from __future__ import annotations

import os
import shlex
from dataclasses import dataclass

from ..debug.cellpath import cell_path
from ..runtimes import registry
from ..runtimes.base import DefinitionError

__all__ = [
    "DefinitionError",
    "FunctionDef",
    "check_source",
    "load_directory",
    "parse_function_cell",
]

DEFAULT_KERNEL = "python3"


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
    runtime = registry.for_kernelspec(kernel)
    source = f"{runtime.comment} {first}\n{body}"
    runtime.check_definition(name, source, f"cell of {name}")
    return FunctionDef(name, kernel, source, cell_path(cell_dir, cell))


def check_source(name: str, source: str, where: str, kernel: str = DEFAULT_KERNEL) -> None:
    """Check a definition with the runtime of the kernelspec it will run in."""
    registry.for_kernelspec(kernel).check_definition(name, source, where)


def load_file(path: str) -> FunctionDef:
    """A function file `NAME.EXT` defining function NAME in the language of its extension,
    optionally naming its kernelspec on the first line (`# kernel: SPEC`)."""
    name, extension = os.path.splitext(os.path.basename(path))
    runtime = registry.for_extension(extension)
    if runtime is None:
        raise DefinitionError(f"{path}: no runtime for {extension or 'extension-less'} files")
    with open(path, encoding="utf-8") as f:
        source = f.read()
    kernel = runtime.kernel_header(source) or runtime.default_kernel
    runtime.check_definition(name, source, path)
    return FunctionDef(name, kernel, source, os.path.abspath(path))


def load_directory(directory: str) -> list[FunctionDef]:
    """Every function file of a directory, one function per file (sorted by name)."""
    if not os.path.isdir(directory):
        raise DefinitionError(f"no such directory: {directory}")
    extensions = {e for r in registry.runtimes().values() for e in r.extensions}
    files = sorted(
        f for f in os.listdir(directory) if os.path.splitext(f)[1] in extensions and f[0] != "_"
    )
    if not files:
        patterns = ", ".join(f"*{e}" for e in sorted(extensions))
        raise DefinitionError(f"no function files ({patterns}) in {directory}")
    return [load_file(os.path.join(directory, f)) for f in files]
