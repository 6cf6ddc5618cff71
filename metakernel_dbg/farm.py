"""A render farm on Dask distributed: the same batch, over the workers of a Dask cluster.

    from distributed import Client
    from metakernel_dbg.farm import Farm

    with Client("tcp://scheduler:8786") as client, Farm(client, "functions/") as farm:
        for record in farm.map([{"function": "article_intro", "args": ["Q42", "en"]}]):
            print(record["status"], record.get("result"))

Each worker keeps one warm engine for the function library (a worker plugin: started
once per worker, with a warm pool, closed with the worker or the farm); a render is a
Dask task that returns its result record (and a failed render's trace) as plain data.
Dask does the scheduling and the resilience: a worker that dies mid-render has its
renders run again elsewhere, as many times as the scheduler's
`distributed.scheduler.allowed-failures` says (the farm's own `LocalCluster` sets 1: once),
after which the render is reported as `died`. Every input gets exactly one record.

The function definitions travel with the plugin, so workers need the package and the
kernelspecs, not the directory (file names in traces are the client's).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import uuid
from collections.abc import Iterable, Iterator
from typing import Any

from .batch.local import engine_settings, render_one
from .batch.records import BadLine, RenderInput, lost_record, parse_item
from .engine.functions import FunctionDef, load_directory
from .session import Session

try:
    import dask
    from distributed import Client, LocalCluster, WorkerPlugin, as_completed, get_worker
    from distributed.client import FutureCancelledError
    from distributed.scheduler import KilledWorker
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ImportError("the render farm needs Dask: pip install 'metakernel_dbg[farm]'") from exc

__all__ = ["Farm", "EnginePlugin", "local_cluster"]


class EnginePlugin(WorkerPlugin):
    """One warm engine per worker for one function library (set up once per worker)."""

    def __init__(self, functions: list[FunctionDef], settings: dict[str, Any]) -> None:
        self.functions = functions
        self.settings = settings
        self.session: Session | None = None

    async def setup(self, worker: Any) -> None:
        threads = max(1, worker.state.nthreads)
        settings = {**engine_settings(self.functions, threads), **self.settings}
        self.session = await asyncio.to_thread(self._start, settings)

    def _start(self, settings: dict[str, Any]) -> Session:
        session = Session(stdout=None, stderr=None, **settings)
        try:
            session.__enter__()
            session.load_functions(self.functions)
        except BaseException:
            session.close()
            raise
        return session

    async def teardown(self, worker: Any) -> None:
        if self.session is not None:
            await asyncio.to_thread(self.session.close)
            self.session = None


def _render_on_worker(plugin: str, item: RenderInput) -> dict[str, Any]:
    """The Dask task: one render on this worker's engine."""
    engine = get_worker().plugins.get(plugin)
    session = getattr(engine, "session", None)
    if session is None:
        raise RuntimeError("this worker has no metakernel_dbg engine (not set up, or closed)")
    return render_one(session, item)


def local_cluster(workers: int, threads: int) -> LocalCluster:
    """A LocalCluster of worker processes whose renders are retried once if a worker dies
    (no dashboard, so no statistical profiler sampling the engines' threads either)."""
    config = {
        "distributed.scheduler.allowed-failures": 1,
        "distributed.worker.profile.enabled": False,
    }
    with dask.config.set(config):
        return LocalCluster(
            n_workers=workers,
            threads_per_worker=threads,
            processes=True,
            dashboard_address=None,
            host="127.0.0.1",
        )


class Farm:
    """Renders of one function library on the workers of `client` (see the module doc).

    `settings` are Session settings for the workers' engines (`call_timeout`,
    `render_timeout`, `otlp`, ...); by default each worker's engine is warm for as many
    renders at once as the worker has threads (`batch.local.engine_settings`).
    """

    def __init__(self, client: Client, directory: str, **settings: Any) -> None:
        self.client = client
        self.name = f"metakernel_dbg-{uuid.uuid4().hex[:12]}"
        # a bad directory fails here, before any worker sees it (DefinitionError)
        client.register_plugin(EnginePlugin(load_directory(directory), settings), self.name)

    def __enter__(self) -> Farm:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the workers' engines (their kernels end with them)."""
        with contextlib.suppress(KeyError):  # a worker that joined late never set it up
            self.client.unregister_worker_plugin(self.name)

    def map(
        self, inputs: Iterable[RenderInput | dict[str, Any]], in_flight: int | None = None
    ) -> Iterator[dict[str, Any]]:
        """Result records as renders finish, one per input; rendering starts at once.
        `inputs`: RenderInput or dicts like the batch's input lines (an invalid dict raises
        ValueError). At most `in_flight` renders are submitted at a time (default: twice
        the workers' threads); inputs are read as renders finish."""
        limit = in_flight or 2 * max(1, sum(self.client.nthreads().values()))
        numbered = (_as_input(item, n) for n, item in enumerate(inputs, 1))
        pending: dict[Any, RenderInput] = {}
        finished = as_completed()
        for item in itertools.islice(numbered, limit):
            self._submit(item, pending, finished)
        return self._results(numbered, pending, finished)

    def _results(
        self, numbered: Iterator[RenderInput], pending: dict, finished: as_completed
    ) -> Iterator[dict[str, Any]]:
        for future in finished:
            yield _record(pending.pop(future), future)
            for item in itertools.islice(numbered, 1):  # one finished: one more goes out
                self._submit(item, pending, finished)

    def _submit(self, item: RenderInput, pending: dict, finished: as_completed) -> None:
        future = self.client.submit(_render_on_worker, self.name, item, pure=False)
        pending[future] = item
        finished.add(future)


def _as_input(item: RenderInput | dict[str, Any], line: int) -> RenderInput:
    if isinstance(item, RenderInput):
        return item
    parsed = parse_item(item, line)
    if isinstance(parsed, BadLine):
        raise ValueError(f"input {item!r}: {parsed.reason}")
    return parsed


def _record(item: RenderInput, future: Any) -> dict[str, Any]:
    """The render's record; a render Dask could not finish is `died` (its worker died as
    often as the scheduler allows) or `error`: never lost."""
    try:
        return future.result()
    except KilledWorker as exc:
        return lost_record(item, "died", exc)
    except (FutureCancelledError, Exception) as exc:  # noqa: BLE001 - reported, not lost
        return lost_record(item, "error", exc)
    finally:
        future.release()
