"""E: whole renders of the shipped example: renders per second at several concurrencies in
one engine, through a Dask LocalCluster of two workers, and the farm's overhead per render.

The inputs mix the example's renders with 10 % failing ones (the documented Q999 input).
The engine is warm the way the batch command starts it (a kernel per function and
concurrent render). Concurrency levels are interleaved round by round, so drift hits them
all. The farm's overhead per render is a batch's wall time through the farm minus the
same batch's on the local engine at the farm's concurrency, over the renders, alternating
round by round (a farm is for throughput); a single render's latency through the farm is
shown beside it with Dask's own floor, a no-op task's round trip.
"""

from __future__ import annotations

import contextlib
import os
import statistics
import time
from pathlib import Path

from ..batch.local import engine_settings, render_all, render_one
from ..batch.records import RenderInput
from ..engine.functions import load_directory
from .stats import BenchRun, summary

#: the example ships with the sources (a checkout, an editable install)
EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "wikifunctions"
CONCURRENCIES = (1, 2, 4, 8)
FARM_WORKERS, FARM_THREADS = 2, 2
#: the local engine the farm is compared with renders as many at once as the farm
FARM_SLOTS = FARM_WORKERS * FARM_THREADS
FARM_ROUNDS = 3  # farm and local engine alternate, round by round
GOOD = [
    ("article_intro", ("Q42", "en")),
    ("article_intro", ("Q42", "fr")),
    ("article_intro", ("Q90", "en")),
    ("article_intro", ("Q90", "fr")),
    ("infobox", ("Q42", "en")),
    ("infobox", ("Q90", "de")),
    ("lifespan", ("Q42", "de")),
    ("description", ("Q42", "fr")),
    ("label", ("Q145", "fr")),
]
FAILING = [("article_intro", ("Q999", "en")), ("infobox", ("Q999", "en"))]


def case(i: int) -> tuple[str, tuple[str, str]]:
    """The i-th render of the mix: every tenth one fails."""
    return FAILING[i // 10 % 2] if i % 10 == 9 else GOOD[i % len(GOOD)]


def mixed_inputs(count: int, start: int = 0) -> list[RenderInput]:
    numbers = range(start, start + count)
    return [RenderInput(i, case(i)[0], list(case(i)[1]), {}, i) for i in numbers]


def measure(run: BenchRun) -> None:
    if not (EXAMPLE / "functions").is_dir():
        run.notes.append(f"renders: the shipped example is not at {EXAMPLE}: not measured")
        return
    from ..session import Session

    functions = load_directory(str(EXAMPLE / "functions"))
    with contextlib.ExitStack() as stack:
        _example_data(stack)
        run.log(f"a warm engine for {max(CONCURRENCIES)} renders of the example at once ...")
        session = Session(stdout=None, stderr=None, **engine_settings(functions, 8))
        stack.callback(session.close)
        session.__enter__()
        session.load_functions(functions)
        _consume(render_all(session, mixed_inputs(16), max(CONCURRENCIES)))  # warm-up
        _concurrency(run, session)
        _farm(run, stack, session)


def _example_data(stack: contextlib.ExitStack) -> None:
    """The example reads its data file from $WIKIFUNCTIONS_DATA (kernels inherit it)."""
    old = os.environ.get("WIKIFUNCTIONS_DATA")
    os.environ["WIKIFUNCTIONS_DATA"] = str(EXAMPLE / "data" / "entities.json")
    if old is None:
        stack.callback(os.environ.pop, "WIKIFUNCTIONS_DATA", None)
    else:
        stack.callback(os.environ.__setitem__, "WIKIFUNCTIONS_DATA", old)


def _consume(records) -> int:
    """Render everything; how many failed (the mix has 10 % failing inputs)."""
    return sum(r["status"] != "ok" for r in records)


def _concurrency(run: BenchRun, session) -> None:
    plan = run.plan
    elapsed = dict.fromkeys(CONCURRENCIES, 0.0)
    done = dict.fromkeys(CONCURRENCIES, 0)
    start = 0
    for r in range(plan.render_level_rounds):
        for level in CONCURRENCIES[r % 4 :] + CONCURRENCIES[: r % 4]:
            run.log(f"{plan.renders_per_level} renders at concurrency {level} ...")
            batch = mixed_inputs(plan.renders_per_level, start)
            start += len(batch)
            t0 = time.perf_counter()
            failed = _consume(render_all(session, batch, level))
            elapsed[level] += time.perf_counter() - t0
            done[level] += len(batch)
            expected = sum(case(i.id) in FAILING for i in batch)
            if failed != expected:
                raise RuntimeError(f"{failed} of {len(batch)} renders failed, not {expected}")
    run.m["renders_per_s"] = {str(c): done[c] / elapsed[c] for c in CONCURRENCIES}
    run.m["renders_measured_per_level"] = done[1]


def _farm(run: BenchRun, stack: contextlib.ExitStack, session) -> None:
    from distributed import Client

    from ..farm import Farm, local_cluster

    plan = run.plan
    run.log(f"a LocalCluster of {FARM_WORKERS} workers x {FARM_THREADS} threads ...")
    cluster = stack.enter_context(local_cluster(FARM_WORKERS, FARM_THREADS))
    client = stack.enter_context(Client(cluster))
    farm = stack.enter_context(Farm(client, str(EXAMPLE / "functions")))
    per_round = plan.farm_renders // FARM_ROUNDS
    # warm-up: the workers' kernels (V8's JIT above all) as warm as the local engine's
    # after the concurrency levels (a fresh farm renders at half speed, ~200 renders to warm)
    run.log(f"{2 * per_round} renders through the farm (warm-up) ...")
    _consume(farm.map(mixed_inputs(2 * per_round)))
    seconds = {"farm": 0.0, "local": 0.0}
    for r in range(FARM_ROUNDS):
        batch = mixed_inputs(per_round, r * per_round)
        run.log(f"{per_round} renders through the farm, then on the local engine ...")
        seconds["farm"] += _seconds(lambda b=batch: _consume(farm.map(b)))
        seconds["local"] += _seconds(lambda b=batch: _consume(render_all(session, b, FARM_SLOTS)))
    renders = per_round * FARM_ROUNDS
    run.m["farm_renders_per_s"] = renders / seconds["farm"]
    run.m["farm_local_renders_per_s"] = renders / seconds["local"]
    run.m["farm_overhead_ms"] = (seconds["farm"] - seconds["local"]) / renders * 1000
    run.log(f"{plan.overhead_pairs} single renders, farm, local engine, no-op Dask task ...")
    one = mixed_inputs(1)[0]
    local_ms: list[float] = []
    farm_ms: list[float] = []
    noop_ms: list[float] = []
    for _ in range(plan.overhead_pairs):
        local_ms.append(_seconds(lambda: render_one(session, one)) * 1000)
        farm_ms.append(_seconds(lambda: _consume(farm.map([one], in_flight=1))) * 1000)
        noop_ms.append(_seconds(lambda: client.submit(_noop, 1, pure=False).result()) * 1000)
    run.m["render_local_ms"] = summary(local_ms)
    run.m["render_farm_ms"] = summary(farm_ms)
    run.m["dask_noop_task_ms"] = summary(noop_ms)
    pairs = zip(farm_ms, local_ms, strict=True)
    run.m["farm_latency_overhead_ms"] = statistics.median(farm - local for farm, local in pairs)


def _seconds(work) -> float:
    t0 = time.perf_counter()
    work()
    return time.perf_counter() - t0


def _noop(x: int) -> int:
    """Dask's own round trip (the floor of the farm's overhead)."""
    return x
