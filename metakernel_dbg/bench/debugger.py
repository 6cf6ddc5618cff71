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
        stock.execute(STOCK_RUN)
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

        run.log(f"stepIn across kernels (outer -> inner) x {plan.dbg_steps} ...")
        meta.set_breakpoint(INNER, None)
        meta.request("continue", {"threadId": meta_thread})
        meta.reply(render)
        meta.set_breakpoint(OUTER, OUTER_LINE)
        render = meta.execute(RENDER.format(n=plan.dbg_steps))
        steps: list[int] = []
        for i in range(plan.dbg_steps):
            thread = meta.wait_event("stopped")["body"]["threadId"]
            meta.drain_events()
            t0 = time.perf_counter_ns()
            meta.request("stepIn", {"threadId": thread})
            thread = meta.wait_event("stopped")["body"]["threadId"]
            steps.append(time.perf_counter_ns() - t0)
            if i == 0:
                top = meta.stack(thread)[0]
                if (top["name"].split()[0], top["line"]) != ("inner", 3):
                    raise RuntimeError(f"stepIn landed in {top['name']}:{top['line']}")
            meta.request("continue", {"threadId": thread})
        meta.set_breakpoint(OUTER, None)
        meta.reply(render)
        m["dbg_step_in_ms"] = summary(steps, 1e6)


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
