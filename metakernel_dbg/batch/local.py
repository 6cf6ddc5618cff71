"""Rendering a batch in this process: one engine, N renders at a time."""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from typing import Any

from ..engine.functions import FunctionDef
from ..errors import MetaKernelError
from ..session import Session
from .records import RenderInput, failed_record, lost_record, ok_record


def engine_settings(functions: list[FunctionDef], concurrency: int) -> dict[str, Any]:
    """A warm engine for `concurrency` renders at once: every function has a kernel per
    render before the first one starts; a small pool of each kernelspec replaces kernels
    that die or time out."""
    return {
        "instances": concurrency,
        "max_renders": concurrency,
        "pool_size": 2,
        "prewarm": tuple(sorted({f.kernel for f in functions})),
    }


def render_one(session: Session, item: RenderInput) -> dict[str, Any]:
    """Render one input; its result record (never raises for a render's own failure)."""
    start = time.perf_counter()
    try:
        outcome = session.render(item.function, *item.args, **item.kwargs)
    except MetaKernelError as exc:  # refused before it ran (arguments over the size limit)
        return lost_record(item, "error", exc, (time.perf_counter() - start) * 1000)
    ms = (time.perf_counter() - start) * 1000
    if outcome.error is not None:
        return failed_record(item, outcome.error.trace, ms)
    return ok_record(item, outcome.value, outcome.trace_id, ms)


def render_all(
    session: Session, inputs: Iterable[RenderInput], concurrency: int
) -> Iterator[dict[str, Any]]:
    """Result records as renders finish, at most `concurrency` at once; inputs are read as
    slots free up (a batch of any size stays small in memory)."""
    with ThreadPoolExecutor(concurrency, thread_name_prefix="mkdbg-render") as pool:
        running: set[Future[dict[str, Any]]] = set()
        for item in inputs:
            if len(running) >= concurrency:
                done, running = wait(running, return_when=FIRST_COMPLETED)
                yield from (f.result() for f in done)
            running.add(pool.submit(render_one, session, item))
        while running:
            done, running = wait(running, return_when=FIRST_COMPLETED)
            yield from (f.result() for f in done)
