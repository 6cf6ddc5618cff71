"""A pool of warm (started, not yet used) kernels per kernelspec.

Starting an ipykernel costs ≈ 0.3 s of wall time and most of a core; a function that needs
a fresh kernel should not pay that on the call path. `KernelPool` keeps up to `size`
started instances per kernelspec it has been asked for, hands one out at once when one is
warm, and starts a replacement in the background.

It is generic over what "a started kernel" is: the engine passes a `start(spec)` that
starts and bootstraps a `ChildKernel`, tests pass fakes. Pure asyncio; every method must
be called on the loop that owns the pool.

Rules:
- `acquire(spec)` never waits on a cold start while a warm instance exists. With none warm
  it takes whichever start (one it triggers, or a refill already under way) finishes first.
- Starts are capped at `concurrency` at a time (the others queue on a semaphore).
- A failed start is retried `retries` times (default once); if it still fails, the error
  goes to the acquirer waiting for it, or, for a background refill nobody waits for, to the
  next `acquire`/`prewarm` of that spec (refills of that spec pause until then).
- Ownership of an acquired instance passes to the caller (the pool forgets it).
- `close()` cancels queued starts, lets starts in progress finish (up to `grace` seconds,
  then cancels them: `start` must clean up after itself when cancelled) and stops every
  warm instance, including the ones those starts produce. No task is left behind.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import os
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

T = TypeVar("T")

__all__ = ["KernelPool", "PoolClosedError"]


class PoolClosedError(RuntimeError):
    """The pool was closed while (or before) an instance was asked for."""


class KernelPool(Generic[T]):
    """Warm instances per kernelspec, refilled in the background (see the module doc)."""

    def __init__(
        self,
        start: Callable[[str], Awaitable[T]],
        stop: Callable[[T], Awaitable[None]],
        size: int = 2,
        concurrency: int | None = None,
        *,
        retries: int = 1,
        alive: Callable[[T], Awaitable[bool]] | None = None,
    ) -> None:
        if size < 0:
            raise ValueError("size must be >= 0")
        self._start = start
        self._stop = stop
        self.size = size
        self.concurrency = max(1, concurrency or os.cpu_count() or 1)
        self.retries = retries
        self._alive = alive
        self._gate = asyncio.Semaphore(self.concurrency)
        self._warm: dict[str, collections.deque[T]] = {}
        self._target: dict[str, int] = {}
        self._starting: dict[str, int] = collections.Counter()
        self._waiters: dict[str, collections.deque[asyncio.Future[T]]] = {}
        self._failures: dict[str, BaseException] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._entered: set[asyncio.Task[None]] = set()  # tasks that called `start`
        self._stopping: set[asyncio.Task[None]] = set()
        self._changed = asyncio.Condition()
        self._closed = False
        #: counters for tests and the benchmark
        self.stats = collections.Counter()

    # -- queries ----------------------------------------------------------------------
    def warm_count(self, spec: str) -> int:
        return len(self._warm.get(spec, ()))

    def starting_count(self, spec: str) -> int:
        return self._starting[spec]

    @property
    def closed(self) -> bool:
        return self._closed

    # -- public API -------------------------------------------------------------------
    async def acquire(self, spec: str) -> T:
        """A started instance of `spec`: a warm one at once, else the first start to finish."""
        self._check_open()
        self._target.setdefault(spec, self.size)
        warm = self._warm.setdefault(spec, collections.deque())
        while warm:
            inst = warm.popleft()
            if self._alive is not None and not await self._check_alive(inst):
                self._stop_later(inst)
                continue
            self.stats["hits"] += 1
            self._fill(spec)
            return inst
        failure = self._failures.pop(spec, None)
        if failure is not None:
            self._fill(spec)  # refills resume; this acquirer gets the stored failure
            raise failure
        self.stats["misses"] += 1
        fut: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        self._waiters.setdefault(spec, collections.deque()).append(fut)
        self._fill(spec)
        try:
            return await fut
        finally:
            with contextlib.suppress(ValueError):
                self._waiters[spec].remove(fut)

    async def prewarm(self, spec: str, n: int | None = None) -> None:
        """Start instances of `spec` until `n` (default `size`) are warm; wait for them.

        `spec` is refilled up to `size` from then on; `n` above `size` is a one-off burst
        (e.g. before a render known to need n kernels). Raises the start error if a start
        fails after its retry.
        """
        n = self.size if n is None else n
        self._target.setdefault(spec, self.size)
        warm = self._warm.setdefault(spec, collections.deque())
        self._failures.pop(spec, None)
        while True:
            self._check_open()
            failure = self._failures.pop(spec, None)
            if failure is not None:
                self._fill(spec)
                raise failure
            if len(warm) >= n:
                return
            self._fill(spec, at_least=n)  # there is always a start in flight past here
            async with self._changed:
                await self._changed.wait()

    async def discard(self, inst: T) -> None:
        """Stop an instance acquired from this pool (same as the pool's `stop`)."""
        await self._stop_quietly(inst)

    async def close(self, grace: float = 30.0) -> None:
        """Stop every warm instance and every start; fail waiting acquirers."""
        if self._closed:
            await self._drain_stops()
            return
        self._closed = True
        for spec, waiters in self._waiters.items():
            for fut in waiters:
                if not fut.done():
                    fut.set_exception(PoolClosedError(f"kernel pool closed (spec {spec!r})"))
        for task in list(self._tasks):
            if task not in self._entered:
                task.cancel()  # still queued on the semaphore: nothing to clean up
        if self._tasks:
            _, pending = await asyncio.wait(list(self._tasks), timeout=grace)
            for task in pending:
                task.cancel()
            if pending:
                await asyncio.wait(pending)
        warm = [inst for group in self._warm.values() for inst in group]
        self._warm.clear()
        for inst in warm:
            self._stop_later(inst)
        await self._drain_stops()
        async with self._changed:
            self._changed.notify_all()

    # -- internals --------------------------------------------------------------------
    def _check_open(self) -> None:
        if self._closed:
            raise PoolClosedError("kernel pool is closed")

    async def _check_alive(self, inst: T) -> bool:
        try:
            return bool(await self._alive(inst))  # type: ignore[misc]
        except Exception:  # noqa: BLE001 - a failing check means "not usable"
            return False

    def _fill(self, spec: str, at_least: int = 0) -> None:
        """Start enough instances for the waiters plus the warm target."""
        if self._closed:
            return
        waiting = sum(1 for f in self._waiters.get(spec, ()) if not f.done())
        target = max(self._target.get(spec, self.size), at_least)
        if spec in self._failures:
            target = 0  # refills pause until the failure is raised to someone
        deficit = target + waiting - len(self._warm.get(spec, ())) - self._starting[spec]
        for _ in range(max(0, deficit)):
            self._starting[spec] += 1
            task = asyncio.get_running_loop().create_task(self._run_start(spec))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
            task.add_done_callback(self._entered.discard)

    async def _run_start(self, spec: str) -> None:
        task = asyncio.current_task()
        assert task is not None
        result: T | BaseException
        try:
            try:
                result = await self._start_with_retries(spec, task)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - handed to an acquirer below
                result = exc
        finally:
            self._starting[spec] -= 1
        await self._deliver(spec, result)

    async def _start_with_retries(self, spec: str, task: asyncio.Task[None]) -> T:
        for attempt in range(self.retries + 1):
            async with self._gate:
                if self._closed:
                    raise PoolClosedError("kernel pool is closed")
                self._entered.add(task)
                self.stats["starts"] += 1
                self.stats["active"] += 1
                self.stats["max_active"] = max(self.stats["max_active"], self.stats["active"])
                try:
                    return await self._start(spec)
                except Exception:
                    self.stats["start_failures"] += 1
                    if attempt >= self.retries:
                        raise
                finally:
                    self.stats["active"] -= 1
        raise AssertionError("unreachable")

    async def _deliver(self, spec: str, result: T | BaseException) -> None:
        if self._closed:
            if not isinstance(result, BaseException):
                await self._stop_quietly(result)
            return
        for fut in self._waiters.get(spec, ()):
            if not fut.done():
                if isinstance(result, BaseException):
                    fut.set_exception(result)
                else:
                    fut.set_result(result)
                break
        else:
            if isinstance(result, BaseException):
                self._failures[spec] = result  # refills of spec pause until it is raised
            else:
                self._warm.setdefault(spec, collections.deque()).append(result)
        if not isinstance(result, BaseException):
            self._failures.pop(spec, None)
        async with self._changed:
            self._changed.notify_all()
        self._fill(spec)

    def _stop_later(self, inst: T) -> None:
        task = asyncio.get_running_loop().create_task(self._stop_quietly(inst))
        self._stopping.add(task)
        task.add_done_callback(self._stopping.discard)

    async def _stop_quietly(self, inst: T) -> None:
        with contextlib.suppress(Exception):
            await self._stop(inst)

    async def _drain_stops(self) -> None:
        while self._stopping:
            await asyncio.gather(*list(self._stopping), return_exceptions=True)
