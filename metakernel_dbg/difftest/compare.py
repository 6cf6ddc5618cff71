"""Compare two recordings of one program and show a mismatch side by side (sans-IO)."""

from __future__ import annotations

import json
from typing import Any

_WIDTH = 78


def lines(recording: dict[str, Any]) -> list[str]:
    """A recording as comparable lines: one per stop and frame, then the outcome."""
    out = []
    for number, stop in enumerate(recording["stops"], 1):
        head = f"stop {number}: {stop['reason']}"
        if stop.get("text"):
            head += f" ({stop['text']})"
        out.append(f"{head} -> {stop['then']}")
        for frame in stop["frames"]:
            local = json.dumps(frame["locals"], sort_keys=True)
            out.append(f"  {frame['function']} {frame['where']}:{frame['line']} {local}")
        if "evaluate" in stop:
            out.append(f"  evaluate: {stop['evaluate']}")
    out.append(f"stdout: {recording['stdout']!r}")
    out.append(f"error: {recording['error']}")
    return out


def differences(reference: dict[str, Any], meta: dict[str, Any]) -> list[str]:
    """Empty when the recordings match; otherwise the two side by side, `!` where they differ."""
    left, right = lines(reference), lines(meta)
    if left == right:
        return []
    rows = [f"  {'reference (stock ipykernel)':<{_WIDTH}} | metakernel_dbg"]
    for i in range(max(len(left), len(right))):
        a = left[i] if i < len(left) else ""
        b = right[i] if i < len(right) else ""
        mark = " " if a == b else "!"
        rows.append(f"{mark} {a[:_WIDTH]:<{_WIDTH}} | {b[:_WIDTH]}")
    return rows
