"""L: functions in JavaScript. Call costs with a JS kernel on either end against
Python -> Python, and the merged stackTrace of a stop whose chain has a JS level against
an all-Python chain; every pair measured interleaved in the same run."""

from __future__ import annotations

import contextlib
import os
import statistics

from .dapclient import DebugKernel
from .programs import A_FN, B_FN, INNER, INNER_LINE, OUTER, RENDER
from .stats import SMALL_ARG, BenchRun, summary

JS = "metakernel_dbg_js"
#: the JS twin of A_FN: time n calls from inside this kernel (ns each)
JA_FN = """function ja(n, x, callee, warm) {
  for (let i = 0; i < warm; i++) call(callee, x);
  const out = [];
  for (let i = 0; i < n; i++) {
    const t0 = process.hrtime.bigint();
    call(callee, x);
    out.push(Number(process.hrtime.bigint() - t0));
  }
  return out;
}"""
JB_FN = "function jb(x) {\n  return x;\n}"
#: main -> jouter (JS) -> inner (Python): the same chain as OUTER's with a JS middle
JOUTER = (
    f"%%function outer --kernel {JS}\nfunction outer(n) {{\n  let total = 0;\n"
    "  for (let i = 0; i < n; i++) {\n    total += call('inner', i);\n  }\n  return total;\n}"
)
#: caller -> callee: (caller function, callee function)
VARIANTS = {
    "py_py": ("a", "b"),
    "py_js": ("a", "jb"),
    "js_py": ("ja", "b"),
    "js_js": ("ja", "jb"),
}


def measure(run: BenchRun) -> None:
    calls(run)
    stack_traces(run)


def calls(run: BenchRun) -> None:
    from ..session import Session

    plan, m = run.plan, run.m
    run.log("languages: a session with Python and JavaScript callers and callees ...")
    with Session(stdout=None, pool_size=0) as session:
        session.define("b", B_FN)
        session.define("a", A_FN)
        session.define("jb", JB_FN, kernel=JS)
        session.define("ja", JA_FN, kernel=JS)

        def timed(variant: str, n: int, warm: int) -> list[int]:
            caller, callee = VARIANTS[variant]
            if caller == "a":
                return session.call("a", n, SMALL_ARG, callee=callee, warm=warm)
            return session.call("ja", n, SMALL_ARG, callee, warm)

        for variant in VARIANTS:  # warm-up, discarded
            timed(variant, plan.per_round, 5)
        times: dict[str, list[int]] = {v: [] for v in VARIANTS}
        ratios: dict[str, list[float]] = {v: [] for v in VARIANTS}
        run.log(f"interleaved rounds: {plan.rounds} x (py->py, py->js, js->py, js->js)")
        order = list(VARIANTS)
        for r in range(plan.rounds):
            got = {v: timed(v, plan.per_round, 5) for v in order[r % 4 :] + order[: r % 4]}
            base = statistics.median(got["py_py"])
            for variant, samples in got.items():
                times[variant] += samples
                ratios[variant].append(statistics.median(samples) / base)
        for variant in VARIANTS:
            m[f"lang_call_{variant}_us"] = summary(times[variant], 1e3)
            m[f"lang_call_{variant}_vs_py_py"] = statistics.median(ratios[variant])


def stack_traces(run: BenchRun) -> None:
    from ..kernel.install import KERNEL_NAME, write_kernel_spec

    plan, m = run.plan, run.m
    spec_dir = os.path.join(run.workdir, "kernels-languages")
    write_kernel_spec(os.path.join(spec_dir, KERNEL_NAME))
    with contextlib.ExitStack() as stack:
        run.log("languages: two meta-kernels stopped in main -> outer (Python or JS) -> inner")
        kernels: dict[str, DebugKernel] = {}
        for label, outer in (("python", OUTER), ("js", JOUTER)):
            kernel = DebugKernel(run.workdir, f"lang-{label}", KERNEL_NAME, spec_dir)
            stack.callback(kernel.close)
            kernel.run(INNER)
            kernel.run(outer)
            kernel.start_debugger()
            kernel.set_breakpoint(INNER, INNER_LINE)
            kernels[label] = kernel
        stops = plan.dbg_rounds
        renders = {k: kernels[k].execute(RENDER.format(n=stops + 1)) for k in kernels}
        threads = {k: kernels[k].wait_event("stopped")["body"]["threadId"] for k in kernels}
        frames = kernels["js"].stack(threads["js"])
        names = [f["name"].split()[0] for f in frames]
        if names != ["inner", "outer", "<module>"] or "[js pid" not in frames[1]["name"]:
            raise RuntimeError(f"the JS chain stopped with the stack {names}")
        m["lang_js_merged_frames"] = len(frames)
        first: dict[str, list[int]] = {k: [] for k in kernels}
        steady: dict[str, list[int]] = {k: [] for k in kernels}
        run.log(f"interleaved stops: {stops} x (first stackTrace, then {plan.dbg_stack} more)")
        for r in range(stops):
            for label in ("python", "js") if r % 2 == 0 else ("js", "python"):
                kernel, args = kernels[label], {"threadId": threads[label]}
                kernel.drain_events()
                kernel.request("continue", args)  # on to the next stop, in the next call
                threads[label] = kernel.wait_event("stopped")["body"]["threadId"]
                args = {"threadId": threads[label]}
                first[label].append(kernel.timed("stackTrace", args)[0])
                steady[label] += [
                    kernel.timed("stackTrace", args)[0] for _ in range(plan.dbg_stack)
                ]
        for label, kernel in kernels.items():
            kernel.set_breakpoint(INNER, None)
            kernel.request("continue", {"threadId": threads[label]})
            kernel.reply(renders[label])
        for label in kernels:
            m[f"lang_stacktrace_first_{label}_ms"] = summary(first[label], 1e6)
            m[f"lang_stacktrace_{label}_ms"] = summary(steady[label], 1e6)
