"""How the bench counts: iteration plans, the shared state of a run, and statistics."""

from __future__ import annotations

import shutil
import statistics
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

SPEC = "python3"
SMALL_ARG = {"x": 1, "name": "f", "v": list(range(10))}  # the reference's "small" args
PAYLOAD = b"x" * 100
DEPTHS = (1, 3, 10)
FANOUT_KERNELS = 10


@dataclass
class Plan:
    """Iteration counts; `quick` is a smoke run (about 2 min), the full run about 6 min."""

    quick: bool
    rounds: int  # interleaved rounds of the per-call measurements
    per_round: int  # raw zmq / execute / call samples per round
    depth_per_round: int  # depth-chain samples per depth per round
    fanout_calls: int  # calls across the 10 warm function kernels
    functions: int  # distinct functions of the cold render
    render_rounds: int  # repeats of cold render vs plain starts (alternating)
    acquisitions: int  # warm pool acquisitions
    big_sizes: tuple[int, int]
    big_rounds: int
    big_per_round: tuple[int, int]
    dbg_call_rounds: int  # rounds of in-kernel calls per debugger state
    dbg_call_per_round: int  # calls timed per round
    probe_n: int  # iterations of the hot loop timed in a callee kernel
    dbg_rounds: int  # interleaved rounds, stock vs meta-kernel, while both are stopped
    dbg_stack: int  # back-to-back stackTrace requests per kernel per round
    dbg_cycles: int  # stop cycles (stackTrace + scopes + variables) per kernel per round
    dbg_steps: int  # stepIn -> stopped, outer -> inner
    render_level_rounds: int  # interleaved rounds over the concurrency levels
    renders_per_level: int  # renders of the example per level per round
    farm_renders: int  # renders through the LocalCluster farm
    overhead_pairs: int  # single renders, farm vs local engine, alternating

    @classmethod
    def make(cls, quick: bool) -> Plan:
        if quick:
            calls = (True, 3, 100, 20, 1000, 6, 1, 3, (1 << 20, 5 << 20), 2, (3, 1))
            debugger = (8, 25, 100_000, 2, 10, 5, 3)
            renders = (2, 24, 48, 10)
        else:
            calls = (False, 10, 300, 100, 1000, 30, 2, 10, (1 << 20, 50 << 20), 5, (4, 1))
            debugger = (40, 30, 300_000, 5, 40, 20, 10)
            renders = (3, 100, 300, 40)
        return cls(*calls, *debugger, *renders)


@dataclass
class BenchRun:
    """One bench run: its plan, where it logs, its scratch folder and what it measured."""

    plan: Plan
    log: Callable[[str], None]
    workdir: str = field(default_factory=lambda: tempfile.mkdtemp(prefix="mkdbg-bench-"))
    m: dict[str, Any] = field(default_factory=dict)  # measurements
    notes: list[str] = field(default_factory=list)

    def close(self) -> None:
        shutil.rmtree(self.workdir, ignore_errors=True)


def percentile(values: list[float], q: float) -> float:
    """Linear-interpolated percentile (q in 0..100)."""
    data = sorted(values)
    if not data:
        return float("nan")
    pos = (len(data) - 1) * q / 100
    lo = int(pos)
    hi = min(lo + 1, len(data) - 1)
    return data[lo] + (data[hi] - data[lo]) * (pos - lo)


def summary(values: list[float], scale: float = 1.0) -> dict[str, float]:
    """median/p99/min/max/mean of `values` divided by `scale`, and n."""
    v = [x / scale for x in values]
    return {
        "median": statistics.median(v),
        "p99": percentile(v, 99),
        "min": min(v),
        "max": max(v),
        "mean": statistics.fmean(v),
        "n": len(v),
    }
