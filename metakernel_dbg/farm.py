"""A render farm on Dask distributed: the same batch, over the workers of a Dask cluster.

    from distributed import Client
    from metakernel_dbg.farm import Farm

    with Client("tcp://scheduler:8786") as client, Farm(client, "functions/") as farm:
        for record in farm.map([{"function": "article_intro", "args": ["Q42", "en"]}]):
            print(record["status"], record.get("result"))

Each worker keeps one warm engine for the function library (a worker plugin: started
once per worker, with a warm pool, closed with the worker or the farm). A Dask task
renders a *chunk* of inputs one after another and returns their result records (and the
failed renders' traces) as plain data: a Dask task costs more than a render's calls (a
no-op task's round trip is ~14 ms on the 2-core CI machine, most of it CPU), so a long
batch goes out in chunks of up to `chunk` renders, and the tail (or a short batch) in
smaller ones, spread over every worker thread.
Dask does the scheduling and the resilience: a worker that dies mid-chunk has the chunk
run again elsewhere, as many times as the scheduler's
`distributed.scheduler.allowed-failures` says (the farm's own `LocalCluster` sets 1: once),
after which its renders are reported as `died`. Every input gets exactly one record.

The function definitions travel with the plugin, so workers need the package and the
kernelspecs, not the directory (file names in traces are the client's).
"""

from __future__ import annotations

import asyncio
import collections
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

#: renders per Dask task in a long batch (see the module doc)
DEFAULT_CHUNK = 8


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


def _render_on_worker(plugin: str, chunk: list[RenderInput]) -> list[dict[str, Any]]:
    """The Dask task: a chunk of renders, one after another, on this worker's engine."""
    engine = get_worker().plugins.get(plugin)
    session = getattr(engine, "session", None)
    if session is None:
        raise RuntimeError("this worker has no metakernel_dbg engine (not set up, or closed)")
    return [render_one(session, item) for item in chunk]


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
        self,
        inputs: Iterable[RenderInput | dict[str, Any]],
        in_flight: int | None = None,
        chunk: int = DEFAULT_CHUNK,
    ) -> Iterator[dict[str, Any]]:
        """Result records as chunks of renders finish, one per input; rendering starts at
        once. `inputs`: RenderInput or dicts like the batch's input lines (an invalid dict
        raises ValueError). At most `in_flight` Dask tasks are out at a time (default:
        twice the workers' threads), each of up to `chunk` renders; inputs are read as
        tasks finish."""
        limit = in_flight or 2 * max(1, sum(self.client.nthreads().values()))
        numbered = (_as_input(item, n) for n, item in enumerate(inputs, 1))
        chunker = _Chunker(numbered, limit, max(1, chunk))
        pending: dict[Any, list[RenderInput]] = {}
        finished = as_completed()
        for _ in range(limit):
            self._submit(chunker, pending, finished)
        return self._results(chunker, pending, finished)

    def _results(
        self, chunker: _Chunker, pending: dict, finished: as_completed
    ) -> Iterator[dict[str, Any]]:
        for future in finished:
            yield from _records(pending.pop(future), future)
            self._submit(chunker, pending, finished)  # one finished: one more goes out

    def _submit(self, chunker: _Chunker, pending: dict, finished: as_completed) -> None:
        chunk = chunker.next()
        if chunk:
            future = self.client.submit(_render_on_worker, self.name, chunk, pure=False)
            pending[future] = chunk
            finished.add(future)


class _Chunker:
    """Inputs cut into chunks: up to `chunk` renders each, smaller once fewer inputs are
    left than fill `limit` tasks (so a short batch or a batch's tail still uses every
    worker thread). Reads ahead at most `limit * chunk` inputs."""

    def __init__(self, inputs: Iterator[RenderInput], limit: int, chunk: int) -> None:
        self.inputs, self.limit, self.chunk = inputs, limit, chunk
        self.buffer: collections.deque[RenderInput] = collections.deque()

    def next(self) -> list[RenderInput]:
        room = self.limit * self.chunk - len(self.buffer)
        self.buffer.extend(itertools.islice(self.inputs, max(0, room)))
        size = min(self.chunk, -(-len(self.buffer) // self.limit))
        return [self.buffer.popleft() for _ in range(size)]


def _as_input(item: RenderInput | dict[str, Any], line: int) -> RenderInput:
    if isinstance(item, RenderInput):
        return item
    parsed = parse_item(item, line)
    if isinstance(parsed, BadLine):
        raise ValueError(f"input {item!r}: {parsed.reason}")
    return parsed


def _records(chunk: list[RenderInput], future: Any) -> list[dict[str, Any]]:
    """The chunk's records; renders Dask could not finish are `died` (their worker died as
    often as the scheduler allows) or `error`: never lost."""
    try:
        return future.result()
    except KilledWorker as exc:
        return [lost_record(item, "died", exc) for item in chunk]
    except (FutureCancelledError, Exception) as exc:  # noqa: BLE001 - reported, not lost
        return [lost_record(item, "error", exc) for item in chunk]
    finally:
        future.release()
