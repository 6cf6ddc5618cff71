"""D: the debugger: stock ipykernel vs the merged stop; call cost with the debugger started."""

from __future__ import annotations

import contextlib
import os
import statistics
import time
from typing import Any

from .dapclient import DebugKernel, wait_quiet
from .programs import (
    A_FN,
    B_FN,
    INNER,
    INNER_LINE,
    OUTER,
    OUTER_LINE,
    PROBE_FN,
    RENDER,
    STOCK_CELL,
    STOCK_LINE,
    STOCK_RUN,
)
from .stats import SMALL_ARG, SPEC, BenchRun, summary


def measure(run: BenchRun) -> None:
    from ..kernel.install import KERNEL_NAME, write_kernel_spec
    from ..session import Session

    plan, m = run.plan, run.m
    spec_dir = os.path.join(run.workdir, "kernels")
    write_kernel_spec(os.path.join(spec_dir, KERNEL_NAME))  # this interpreter's package
    with contextlib.ExitStack() as stack:
        run.log("debugger: a stock ipykernel, a meta-kernel, a session without debugger ...")
        stock = DebugKernel(run.workdir, "stock", SPEC)
        stack.callback(stock.close)
        meta = DebugKernel(run.workdir, "meta", KERNEL_NAME, spec_dir)
        stack.callback(meta.close)
        # the same engine, with no debug proxy; timeouts off, as in the kernel
        session = Session(stdout=None, pool_size=0, call_timeout=None, render_timeout=None)
        stack.callback(session.close)
        session.__enter__()
        session.define("b", B_FN)
        session.define("a", A_FN)
        for cell in (
            f"%%function b\n{B_FN}",
            f"%%function a\n{A_FN}",
            f"%%function probe\n{PROBE_FN}",
        ):
            meta.run(cell)
        meta.run(INNER)
        meta.run(OUTER)
        meta.call("outer", 1)  # every kernel of the chain is up and has served once
        meta_pid = getattr(meta.km.provisioner, "pid", None)
        if meta_pid:
            wait_quiet(meta_pid)

        run.log("call cost: no debugger (session) vs meta-kernel, debugger never started ...")
        before = meta.call("probe", 5, plan.probe_n)
        session.call("a", plan.dbg_call_per_round, SMALL_ARG)  # warm-up, discarded
        baseline, never, m["dbg_never_vs_session"] = _calls_against(run, session, meta)

        run.log("starting the debugger as JupyterLab does (stock, meta-kernel) ...")
        stock_init, stock_attach = stock.start_debugger()
        meta_init, meta_attach = meta.start_debugger()
        if meta_pid:
            wait_quiet(meta_pid)
        run.log("call cost, debugger started in the callee kernels ...")
        after = meta.call("probe", 5, plan.probe_n)
        baseline_started, started, m["dbg_started_vs_session"] = _calls_against(run, session, meta)
        if not after["trace"]:
            raise RuntimeError("debugger started, yet no trace function in the callee")
        m["debugpy_in_child_modules"] = before["debugpy"]
        m["pydevd_in_child_modules"] = before["pydevd"]
        m["trace_function_in_child_before_start"] = before["trace"]
        m["trace_function_in_child_after_start"] = after["trace"]
        m["hot_loop_ns_never_started"] = before["hot_loop_ns"]
        m["hot_loop_ns_started"] = after["hot_loop_ns"]
        m["call_no_debugger_us"] = summary(baseline, 1e3)
        m["call_debugger_never_started_us"] = summary(never, 1e3)
        m["call_no_debugger_while_started_us"] = summary(baseline_started, 1e3)
        m["call_debugger_started_us"] = summary(started, 1e3)
        m["dbg_stock_initialize_ms"] = stock_init / 1e6
        m["dbg_stock_attach_ms"] = stock_attach / 1e6
        m["dbg_meta_initialize_ms"] = meta_init / 1e6
        m["dbg_meta_attach_ms"] = meta_attach / 1e6

        run.log("breakpoints, and both kernels stopped on them ...")
        stock.set_breakpoint(STOCK_CELL, STOCK_LINE)
        stock.run(STOCK_CELL)
        stock_run = stock.execute(STOCK_RUN)
        stock_thread = stock.wait_event("stopped")["body"]["threadId"]
        meta.set_breakpoint(INNER, INNER_LINE)
        render = meta.execute(RENDER.format(n=3))
        meta_thread = meta.wait_event("stopped")["body"]["threadId"]
        top = stock.stack(stock_thread)[0]
        if (top["name"], top["line"]) != ("target", STOCK_LINE):
            raise RuntimeError(f"stock kernel stopped at {top['name']}:{top['line']}")
        frames = meta.stack(meta_thread)
        names = [f["name"].split()[0] for f in frames]
        if names != ["inner", "outer", "<module>"] or frames[0]["line"] != INNER_LINE:
            raise RuntimeError(f"meta-kernel stopped with the stack {names}")
        pids = {f["name"].rsplit("pid", 1)[-1] for f in frames}
        m["dbg_merged_frames"] = len(frames)
        m["dbg_merged_kernels"] = len(pids)

        run.log(
            f"interleaved rounds: {plan.dbg_rounds} x (stackTrace x {plan.dbg_stack}, "
            f"stop cycle x {plan.dbg_cycles}) on each kernel ..."
        )
        kernels = {"stock": (stock, stock_thread), "meta": (meta, meta_thread)}
        for k, thread in kernels.values():  # warm-up, discarded
            for _ in range(3):
                k.timed("stackTrace", {"threadId": thread})
            k.stop_cycle(thread)
        traces: dict[str, list[int]] = {"stock": [], "meta": []}
        cycles: dict[str, list[int]] = {"stock": [], "meta": []}
        for r in range(plan.dbg_rounds):
            order = ["stock", "meta"] if r % 2 == 0 else ["meta", "stock"]
            for name in order:
                k, thread = kernels[name]
                args = {"threadId": thread}
                traces[name] += [k.timed("stackTrace", args)[0] for _ in range(plan.dbg_stack)]
            for name in order:
                k, thread = kernels[name]
                cycles[name] += [k.stop_cycle(thread) for _ in range(plan.dbg_cycles)]
        m["dbg_stock_stacktrace_ms"] = summary(traces["stock"], 1e6)
        m["dbg_merged_stacktrace_ms"] = summary(traces["meta"], 1e6)
        m["dbg_stock_stop_cycle_ms"] = summary(cycles["stock"], 1e6)
        m["dbg_merged_stop_cycle_ms"] = summary(cycles["meta"], 1e6)

        meta.set_breakpoint(INNER, None)
        meta.request("continue", {"threadId": meta_thread})
        meta.reply(render)
        stock.set_breakpoint(STOCK_CELL, None)
        stock.request("continue", {"threadId": stock_thread})
        stock.reply(stock_run)
        run.log(f"steps across kernels vs the same steps in one kernel x {plan.dbg_steps} ...")
        _steps(run, stock, meta)


def _calls_against(
    run: BenchRun, session: Any, meta: DebugKernel
) -> tuple[list[int], list[int], float]:
    """In-kernel a -> b call times, interleaved in short rounds: (session, meta-kernel,
    median over rounds of meta / session). Call times drift by 2x within a run on this
    kind of VM; a ratio taken within each round cancels most of that out."""
    n = run.plan.dbg_call_per_round
    meta.call("a", n, SMALL_ARG)  # warm-up, discarded
    ours: list[int] = []
    theirs: list[int] = []
    per_round: list[float] = []
    for r in range(run.plan.dbg_call_rounds):
        got: dict[str, list[int]] = {}
        for variant in ("session", "meta") if r % 2 == 0 else ("meta", "session"):
            runner = session if variant == "session" else meta
            got[variant] = runner.call("a", n, SMALL_ARG)
        ours += got["session"]
        theirs += got["meta"]
        per_round.append(statistics.median(got["meta"]) / statistics.median(got["session"]))
    return ours, theirs, statistics.median(per_round)


def _steps(run: BenchRun, stock: DebugKernel, meta: DebugKernel) -> None:
    """request -> `stopped` of the steps that cross a call: stepIn on `outer`'s call line
    (into `inner`), `next` off `inner`'s return and stepOut of `inner` (back in `outer`),
    in one stock kernel (plain functions) and across two kernels of the meta-kernel (the
    same functions, `call("inner", i)`); the two alternate step by step."""
    kernels = {"stock": stock, "meta": meta}
    cells = {"stock": (STOCK_INNER, STOCK_OUTER), "meta": (INNER, OUTER)}
    call_line = {"stock": STOCK_OUTER_LINE, "meta": OUTER_LINE}
    renders: dict[str, str] = {}
    for name, k in kernels.items():
        k.run(cells[name][0])
        k.set_breakpoint(cells[name][1], call_line[name])
        k.run(cells[name][1])
        k.drain_events()
        renders[name] = k.execute(
            (STOCK_RENDER if name == "stock" else RENDER).format(n=run.plan.dbg_steps)
        )
    threads = {name: k.wait_event("stopped")["body"]["threadId"] for name, k in kernels.items()}
    times: dict[str, list[int]] = {f"{n}_{s}": [] for n in kernels for s in _STEPS}

    def step(name: str, command: str, key: str | None = None) -> None:
        k = kernels[name]
        k.drain_events()
        t0 = time.perf_counter_ns()
        k.request(command, {"threadId": threads[name]})
        threads[name] = k.wait_event("stopped")["body"]["threadId"]
        if key is not None:
            times[f"{name}_{key}"].append(time.perf_counter_ns() - t0)

    for i in range(run.plan.dbg_steps):
        for name in ("stock", "meta") if i % 2 == 0 else ("meta", "stock"):
            step(name, "stepIn", "stepIn")  # on outer's call line: into inner
            if i % 2 == 0:
                step(name, "stepOut", "stepOut")  # back in outer, at the call line
            else:
                step(name, "next")  # inner's return line
                step(name, "next", "next")  # off the return: back in outer
            kernels[name].request("continue", {"threadId": threads[name]})
            if i + 1 < run.plan.dbg_steps:
                threads[name] = kernels[name].wait_event("stopped")["body"]["threadId"]
    for name, k in kernels.items():
        k.set_breakpoint(cells[name][1], None)
        k.reply(renders[name])
    for key, values in times.items():
        run.m[f"dbg_step_{key}_ms"] = summary(values, 1e6)


_STEPS = ("stepIn", "next", "stepOut")
STOCK_INNER = "def inner(x):\n    y = x * 2\n    return y + 1"
STOCK_OUTER = (
    "def outer(n):\n    total = 0\n    for i in range(n):\n        total += inner(i)\n"
    "    return total"
)
STOCK_OUTER_LINE = 4  # total += inner(i)
STOCK_RENDER = "result = outer({n})\nresult"
