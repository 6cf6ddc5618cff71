"""`metakernel-dbg bench`: the call plane measured against baselines taken in the same run.

Everything runs on one transport (ipc): the raw pyzmq floor, a plain ipykernel's execute
round trip, and the meta-kernel's cross-kernel calls (child kernels use ipc, the router is
`ipc://`); kernels on another host are measured over the link between two emulated hosts
(`remote.py`, as root), against the floors of that link. Call costs are measured *inside*
a kernel (`time.perf_counter_ns()` around each
`call()`), so the Session's own per-render overhead is not part of them.

Functions in JavaScript: call costs with a tslab kernel on either end against Python ->
Python, and the merged stackTrace of a stop with a JS level against an all-Python one.

The debugger is measured the way JupyterLab drives it (`debug_request` on the control channel,
timed to the matching `debug_reply`): a stock python3 ipykernel stopped on a breakpoint against
the meta-kernel stopped in a three-kernel chain (main -> outer -> inner), both stopped at the
same time and interleaved; and the in-kernel call cost before and after the debugger is started
in the callee kernels, against a session that has no debugger at all.

Whole renders of the shipped example (10 % failing) are measured in renders per second at
concurrency 1, 2, 4 and 8 in one engine and through a Dask LocalCluster of two workers, with
the farm's overhead per render over the local engine.

Ratios against the in-run baselines are the headline; absolute times are secondary (they
move 30-50 % between runs on a shared machine). Targets are printed next to the ratios and
marked PASS/MISS (rows without a target are "info"); nothing here asserts a timing.

Method (as in the project's performance-baselines reference): `perf_counter_ns`, warm-up
iterations discarded, variants interleaved round-robin (each round runs every variant once,
so drift hits all of them), medians with linear-interpolated p99.
"""

from __future__ import annotations

import json
import os
import resource
import sys
import time
from collections.abc import Callable
from typing import Any

from . import calls, debugger, languages, remote, renders, starts
from .report import machine_info, ratios, render_report
from .stats import BenchRun, Plan


def run(quick: bool, log: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Run every measurement; returns the JSON-able result."""
    log = log or (lambda text: print(f"  {text}", file=sys.stderr, flush=True))
    plan = Plan.make(quick)
    t0 = time.perf_counter()
    machine = machine_info()
    bench = BenchRun(plan, log)
    try:
        calls.measure(bench)
        starts.cold_render(bench)
        starts.warm_pool(bench)
        debugger.measure(bench)
        renders.measure(bench)
        languages.measure(bench)
        remote.measure(bench)
        bench.m["meta_peak_rss_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    finally:
        bench.close()
    m = bench.m
    result = {
        "quick": quick,
        "machine": {**machine, "load_avg_end": list(os.getloadavg())},
        "plan": plan.__dict__,
        "measurements": m,
        "ratios": ratios(m),
        "notes": bench.notes,
        "elapsed_s": time.perf_counter() - t0,
    }
    return result


def main(quick: bool = False, json_path: str | None = None) -> int:
    try:
        result = run(quick)
    except Exception as exc:  # noqa: BLE001 - a failed bench is reported, not a traceback
        import traceback

        traceback.print_exc()
        print(f"metakernel-dbg bench: failed: {exc}", file=sys.stderr)
        return 1
    print(render_report(result))
    if json_path:
        with open(json_path, "w", encoding="utf-8") as f:
            json.dump(result, f, indent=2, default=str)
    return 0
