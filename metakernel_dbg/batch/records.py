"""Sans-IO core of batches: input lines in, result records out, and the summary.

An input line is `{"id": ..., "function": NAME, "args": [...], "kwargs": {...}}` (the id
is optional: the line number). A result record is `id`, `status` (ok | error | timeout |
died), `result` or `error` (type, message), `trace_id` and `ms`; a failed render's record
also carries its JSON trace under `trace` until it is written to the traces file.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from ..bench.stats import percentile
from ..trace import Trace

STATUSES = ("ok", "error", "timeout", "died")


@dataclass(frozen=True)
class RenderInput:
    """One render to do: `function(*args, **kwargs)`, known by `id`."""

    id: Any
    function: str
    args: list[Any]
    kwargs: dict[str, Any]
    line: int


@dataclass(frozen=True)
class BadLine:
    """An input line that is not a render: where, and why."""

    line: int
    reason: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.reason}"


def parse_line(text: str, line: int) -> RenderInput | BadLine:
    try:
        item = json.loads(text)
    except ValueError as exc:
        return BadLine(line, f"not JSON ({exc})")
    return parse_item(item, line)


def parse_item(item: Any, line: int) -> RenderInput | BadLine:
    """An input given as data (a decoded line); `line` is its id if it has none."""
    if not isinstance(item, dict):
        return BadLine(line, "not a JSON object")
    unknown = sorted(set(item) - {"id", "function", "args", "kwargs"})
    if unknown:
        return BadLine(line, f"unknown field(s) {', '.join(unknown)}")
    function, args, kwargs = item.get("function"), item.get("args", []), item.get("kwargs", {})
    if not isinstance(function, str) or not function:
        return BadLine(line, '"function" must be a function name')
    if not isinstance(args, list):
        return BadLine(line, '"args" must be a list')
    if not isinstance(kwargs, dict):
        return BadLine(line, '"kwargs" must be an object')
    ident = item.get("id", line)
    if isinstance(ident, dict | list):
        return BadLine(line, '"id" must be a string, number or null')
    return RenderInput(ident, function, args, kwargs, line)


def read_inputs(lines: Iterable[str]) -> Iterator[RenderInput | BadLine]:
    """Every non-blank line as a render or a bad line; a repeated id is a bad line (each
    result must name exactly one input)."""
    seen: set[str] = set()
    for number, text in enumerate(lines, 1):
        if not text.strip():
            continue
        item = parse_line(text, number)
        if isinstance(item, RenderInput):
            key = json.dumps(item.id)
            if key in seen:
                item = BadLine(number, f"id {key} was used by an earlier line")
            seen.add(key)
        yield item


def status_of(trace: Trace) -> str:
    """error, timeout (the failure started with a timeout) or died (with a kernel)."""
    chain = trace.chain()
    origin = chain[-1] if chain else None
    if origin is not None and origin.timed_out:
        return "timeout"
    if origin is not None and origin.exit is not None:
        return "died"
    return "error"


def ok_record(item: RenderInput, value: Any, trace_id: str, ms: float) -> dict[str, Any]:
    return {"id": item.id, "status": "ok", "result": value, "trace_id": trace_id, "ms": ms}


def failed_record(item: RenderInput, trace: Trace, ms: float) -> dict[str, Any]:
    chain = trace.chain()
    error = chain[-1].error if chain else None
    return {
        "id": item.id,
        "status": status_of(trace),
        "error": {"type": error.type, "message": error.message} if error else None,
        "trace_id": trace.trace_id,
        "ms": ms,
        "trace": trace.to_dict(),
    }


def lost_record(item: RenderInput, status: str, error: BaseException, ms: float = 0.0) -> dict:
    """A render with no trace: refused before it ran, or lost with a farm worker."""
    message = {"type": type(error).__name__, "message": str(error)}
    return {"id": item.id, "status": status, "error": message, "trace_id": None, "ms": ms}


@dataclass
class Summary:
    """Counts by status, malformed lines, latencies; what the end of a batch prints."""

    counts: Counter[str] = field(default_factory=Counter)
    bad_lines: int = 0
    latencies: list[float] = field(default_factory=list)

    def add(self, record: dict[str, Any]) -> None:
        self.counts[record["status"]] += 1
        self.latencies.append(record["ms"])

    @property
    def failed(self) -> int:
        return sum(n for status, n in self.counts.items() if status != "ok")

    @property
    def all_ok(self) -> bool:
        return self.failed == 0 and self.bad_lines == 0

    def text(self, seconds: float) -> str:
        done = sum(self.counts.values())
        parts = [f"{self.counts[s]} {s}" for s in STATUSES if self.counts[s] or s == "ok"]
        if self.bad_lines:
            parts.append(f"{self.bad_lines} malformed line(s) skipped")
        line = f"{done} render(s): " + ", ".join(parts)
        if self.latencies:
            p50, p99 = percentile(self.latencies, 50), percentile(self.latencies, 99)
            rate = done / seconds if seconds > 0 else float("nan")
            line += f"; latency p50 {p50:.1f} ms, p99 {p99:.1f} ms; {rate:.1f} renders/s"
        return line
