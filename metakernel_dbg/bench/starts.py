"""B and C: kernel starts: a cold render against plain starts, a warm pool, acquisitions."""

from __future__ import annotations

import asyncio
import os
import tempfile
import time

from .baselines import plain_starts
from .programs import render_dir
from .stats import SPEC, BenchRun, summary


def cold_render(run: BenchRun) -> None:
    from ..session import Session

    n = run.plan.functions
    conc = max(1, os.cpu_count() or 1)
    fdir = render_dir(n, run.workdir)
    expected = sum(range(1, n)) + n - 1  # f00(1) = sum of (1 + i)
    renders: list[float] = []
    unforked: list[float] = []
    render_close: list[float] = []
    plains: list[float] = []
    plain_down: list[float] = []
    for r in range(run.plan.render_rounds):
        variants = ["plain", "render", "unforked"]
        for variant in variants[r % 3 :] + variants[: r % 3]:
            if variant == "plain":
                run.log(f"{n} plain ipykernel starts at concurrency {conc} ...")
                sub = tempfile.mkdtemp(prefix="plain-", dir=run.workdir)
                ready, down = asyncio.run(plain_starts(n, conc, sub))
                plains.append(ready)
                plain_down.append(down)
            else:
                fork = variant == "render"
                how = "" if fork else ", fork server off"
                run.log(f"cold render of {n} functions in a fresh session (no pool{how}) ...")
                t0 = time.perf_counter()
                session = Session(stdout=None, pool_size=0, fork=fork)
                try:
                    session.__enter__()
                    session.load_directory(fdir)
                    result = session.call("f00", 1)
                    (renders if fork else unforked).append(time.perf_counter() - t0)
                finally:
                    t1 = time.perf_counter()
                    session.close()
                    render_close.append(time.perf_counter() - t1)
                if result != expected:
                    raise RuntimeError(f"cold render returned {result!r}, not {expected}")
    m = run.m
    m["functions"] = n
    m["start_concurrency"] = conc
    m["cold_render_s"] = summary(renders)
    m["cold_render_unforked_s"] = summary(unforked)
    m["cold_render_close_s"] = summary(render_close)
    m["plain_starts_s"] = summary(plains)
    m["plain_shutdown_s"] = summary(plain_down)


def warm_pool(run: BenchRun) -> None:
    from ..engine.functions import FunctionDef
    from ..session import Session

    n = run.plan.functions
    fdir = render_dir(n, run.workdir)
    expected = sum(range(1, n)) + n - 1
    session = Session(stdout=None, pool_size=2)
    try:
        session.__enter__()
        engine = session._core.engine
        run.log(f"warming a pool of {n} kernels (not timed) ...")
        engine.submit(engine.pool.prewarm(SPEC, n)).result()
        time.sleep(0.5)  # let the last starts settle
        run.log(f"render of {n} functions with a warm pool ...")
        t0 = time.perf_counter()
        session.load_directory(fdir)
        result = session.call("f00", 1)
        run.m["warm_pool_render_s"] = time.perf_counter() - t0
        if result != expected:
            raise RuntimeError(f"warm-pool render returned {result!r}, not {expected}")

        run.log(f"{run.plan.acquisitions} warm acquisitions (pool of 2, refilled) ...")
        acquire: list[float] = []
        ready: list[float] = []
        source = "def w(x):\n    return x\n"
        fdef = FunctionDef("w", SPEC, source, os.path.join(engine.cell_dir, "w.py"))

        async def one() -> tuple[float, float]:
            await engine.pool.prewarm(SPEC, 2)  # wait for the refill (not timed)
            await asyncio.sleep(0.2)
            t0 = time.perf_counter()
            warm = await engine.pool.acquire(SPEC)
            t1 = time.perf_counter()
            await engine.pool.discard(warm)
            await asyncio.sleep(0.05)
            # the whole path a call waits for: acquire + define
            t2 = time.perf_counter()
            inst = await engine.start_instance(fdef, SPEC)
            t3 = time.perf_counter()
            await engine._discard(inst)
            return t1 - t0, t3 - t2

        hits = engine.pool.stats["hits"]
        for _ in range(run.plan.acquisitions):
            a, b = engine.submit(one()).result()
            acquire.append(a)
            ready.append(b)
        run.m["pool_acquire_ms"] = summary(acquire, 1e-3)
        run.m["pool_acquire_ready_ms"] = summary(ready, 1e-3)
        run.m["pool_acquire_all_warm"] = (
            engine.pool.stats["hits"] - hits == 2 * run.plan.acquisitions
        )
    finally:
        session.close()
