"""A program of the differential test, written once and run two ways (sans-IO).

Function bodies write a call as `CALL(name, args...)`. The *reference* is a stock ipykernel
running every function as a plain `def` in a cell of its own, calling directly
(`inner(i)`); on the meta-kernel each function is a `%%function` cell and calls go through
`call("inner", i)`. Both are driven with the same debug requests (record.py) and their
recordings compared (compare.py). Breakpoints and lines are counted from each function's
`def` line, so the two sides' line numbers compare directly.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

_CALL = re.compile(r"CALL\((\w+)(?:, )?")
#: the debugger's exception filters (debugpy's ids, as `initialize` offers them)
FILTERS = ("raised", "uncaught", "userUnhandled")
STEPS = ("next", "stepIn", "stepOut", "continue")


@dataclass(frozen=True)
class Function:
    name: str
    source: str  # `def NAME(...):` first, calls written CALL(...)


@dataclass(frozen=True)
class Program:
    """Functions, a render cell, breakpoints (function, line offset from its def line),
    exception filters and the step script (one command per stop; then `continue`)."""

    name: str
    functions: tuple[Function, ...]
    render: str
    breakpoints: tuple[tuple[str, int], ...] = ()
    filters: tuple[str, ...] = ()
    steps: tuple[str, ...] = ()
    notes: str = field(default="", compare=False)

    def reference_cells(self) -> list[str]:
        """One cell per function, then nothing else: plain defs calling each other."""
        return [_direct(f.source) for f in self.functions]

    def reference_render(self) -> str:
        return _direct(self.render)

    def meta_cells(self) -> list[str]:
        """One `%%function NAME` cell per function (its def on line 2)."""
        return [f"%%function {f.name}\n{_routed(f.source)}" for f in self.functions]

    def meta_render(self) -> str:
        return _routed(self.render)

    def text(self) -> str:
        """The program as a reader sees it (for mismatch reports)."""
        parts = [f.source for f in self.functions]
        parts.append(f"# render\n{self.render}")
        parts.append(
            f"# breakpoints {list(self.breakpoints)}  filters {list(self.filters)}  "
            f"steps {list(self.steps)}"
        )
        return "\n".join(parts)


def _direct(source: str) -> str:
    return _CALL.sub(lambda m: f"{m.group(1)}(", source)


def _routed(source: str) -> str:
    def call(match: re.Match[str]) -> str:
        more = ", " if match.group(0).endswith(" ") else ""
        return f'call("{match.group(1)}"{more}'

    return _CALL.sub(call, source)


def def_line(source: str, name: str) -> int:
    """1-based line of `def NAME` in a cell."""
    for number, line in enumerate(source.splitlines(), 1):
        if re.match(rf"\s*def {re.escape(name)}\s*\(", line):
            return number
    raise LookupError(f"no def {name} in the cell")
