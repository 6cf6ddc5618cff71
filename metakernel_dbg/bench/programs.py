"""The functions and cells the measurements run inside the kernels."""

from __future__ import annotations

import os
import tempfile

A_FN = '''import time

def a(n, x, size=0, callee="b", warm=5):
    """Time n calls A -> callee from inside this kernel (ns each); `size`: a str arg."""
    if size:
        x = "x" * size
    total = 0
    for _ in range(warm):
        call(callee, x)
    out = []
    for _ in range(n):
        t0 = time.perf_counter_ns()
        r = call(callee, x)
        out.append(time.perf_counter_ns() - t0)
        total += len(r) if isinstance(r, (dict, list, str)) else 1
    return out
'''

B_FN = "def b(x):\n    return x\n"

SINK_FN = "def sink(x):\n    return len(x)\n"

CHAIN_FN = """def c{i}(d, x):
    if d > {i}:
        return call("c{j}", d, x)
    return x
"""

HOP_FN = '''import time

def hop(mode, n, x):
    """depth: chains c1 -> ... -> cd timed per depth, depths interleaved;
    fanout: n calls round-robin over c1..c10 (each returns at once), timed twice:
    the first pass includes starting each kernel's serve loop for this render."""
    clock = time.perf_counter_ns
    if mode == "depth":
        call("c1", 10, x)  # warm-up: touches the whole chain
        out = {{str(d): [] for d in {depths}}}
        for _ in range(n):
            for d in {depths}:
                t0 = clock()
                call("c1", d, x)
                out[str(d)].append(clock() - t0)
        return out
    names = ["c%d" % (1 + i % {fanout}) for i in range(n)]
    passes = []
    for _ in range(2):
        t0 = clock()
        for name in names:
            call(name, 0, x)
        passes.append(clock() - t0)
    return passes
'''

PROBE_FN = '''import gc
import sys
import threading
import time

def probe(reps, n):
    """Debugger state of this kernel and the ns per call of a hot Python loop."""
    def f(v):
        return v + 1
    gc.disable()
    try:
        for i in range(n // 3):
            f(i)
        best = []
        for _ in range(reps):
            t0 = time.perf_counter_ns()
            for i in range(n):
                f(i)
            best.append((time.perf_counter_ns() - t0) / n)
    finally:
        gc.enable()
    best.sort()
    return {
        "debugpy": "debugpy" in sys.modules,
        "pydevd": "pydevd" in sys.modules,
        # a debugger traces with sys.settrace (Python 3.11) or sys.monitoring (3.12+)
        "trace": sys.gettrace() is not None or threading.gettrace() is not None or bool(
            hasattr(sys, "monitoring") and sys.monitoring.get_tool(sys.monitoring.DEBUGGER_ID)
        ),
        "hot_loop_ns": best[len(best) // 2],
        "pid": __import__("os").getpid(),
    }
'''


def render_dir(n: int, parent: str) -> str:
    """n distinct functions: f00 calls f01..f(n-1) once each, so one call touches all."""
    path = tempfile.mkdtemp(prefix="fns-", dir=parent)
    for i in range(1, n):
        with open(os.path.join(path, f"f{i:02d}.py"), "w") as f:
            f.write(f"def f{i:02d}(x):\n    return x + {i}\n")
    callees = ", ".join(f'"f{i:02d}"' for i in range(1, n))
    with open(os.path.join(path, "f00.py"), "w") as f:
        f.write(f"def f00(x):\n    return sum(call(name, x) for name in [{callees}])\n")
    return path


# stock ipykernel: a function cell, a breakpoint on its line 2, a cell calling it
STOCK_CELL = "def target(x):\n    y = x + 1\n    return y\n"
STOCK_LINE = 2
STOCK_RUN = "target(1)"
# meta-kernel: main -> outer -> inner (three kernels), a breakpoint on `return y + 1`
INNER = "%%function inner\ndef inner(x):\n    y = x * 2\n    return y + 1"
INNER_LINE = 4
OUTER = (
    "%%function outer --kernel python3\ndef outer(n):\n    total = 0\n"
    '    for i in range(n):\n        total += call("inner", i)\n    return total'
)
OUTER_LINE = 5  # total += call("inner", i)
RENDER = 'result = call("outer", {n})\nresult'
PRINT_CALL = "import json as _json\nprint(_json.dumps(call({args})))"
