"""KernelPool: unit tests with fake kernels, one integration test with real ipykernels."""

from __future__ import annotations

import asyncio
import itertools
import os
import tempfile

import psutil
import pytest

from metakernel_dbg.launch.pool import KernelPool, PoolClosedError


class Fake:
    def __init__(self, spec: str, n: int) -> None:
        self.spec = spec
        self.n = n
        self.stopped = False

    def __repr__(self) -> str:
        return f"Fake({self.spec}#{self.n})"


class Factory:
    """start/stop fakes; a start takes `delay` seconds and may fail on chosen attempts."""

    def __init__(self, delay: float = 0.01, fail: set[int] | None = None) -> None:
        self.delay = delay
        self.fail = fail or set()  # attempt numbers (1-based) that raise
        self.attempts = 0
        self.started: list[Fake] = []
        self.stopped: list[Fake] = []
        self.active = 0
        self.max_active = 0
        self.cancelled = 0
        self._ids = itertools.count(1)

    async def start(self, spec: str) -> Fake:
        self.attempts += 1
        attempt = self.attempts
        self.active += 1
        self.max_active = max(self.max_active, self.active)
        try:
            await asyncio.sleep(self.delay)
        except asyncio.CancelledError:
            self.cancelled += 1
            raise
        finally:
            self.active -= 1
        if attempt in self.fail:
            raise RuntimeError(f"start {attempt} failed")
        inst = Fake(spec, next(self._ids))
        self.started.append(inst)
        return inst

    async def stop(self, inst: Fake) -> None:
        inst.stopped = True
        self.stopped.append(inst)

    def live(self) -> list[Fake]:
        return [i for i in self.started if not i.stopped]


async def until(pred, timeout: float = 5.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not pred():
        assert asyncio.get_running_loop().time() < deadline, "condition not reached"
        await asyncio.sleep(0.005)


def own_tasks() -> set[asyncio.Task]:
    return {t for t in asyncio.all_tasks() if t is not asyncio.current_task()}


async def test_acquire_from_warm_does_not_start() -> None:
    f = Factory(delay=0.05)
    pool = KernelPool(f.start, f.stop, size=2)
    await pool.prewarm("py")
    assert pool.warm_count("py") == 2
    attempts = f.attempts
    warm = list(f.started)
    inst = await pool.acquire("py")
    assert inst in warm
    assert f.attempts == attempts  # acquire itself started nothing
    assert pool.stats["hits"] == 1 and pool.stats["misses"] == 0
    await pool.close()
    assert not inst.stopped  # acquired: owned by the caller
    assert [i for i in f.live() if i is not inst] == []


async def test_refill_happens_in_background() -> None:
    f = Factory(delay=0.02)
    pool = KernelPool(f.start, f.stop, size=2)
    await pool.prewarm("py")
    a = await pool.acquire("py")
    b = await pool.acquire("py")
    assert {a, b} <= set(f.started[:2])
    await until(lambda: pool.warm_count("py") == 2)
    assert f.attempts == 4
    # per spec: another spec is only warmed once asked for
    assert pool.warm_count("other") == 0
    c = await pool.acquire("other")  # cold: waits for a start
    assert c.spec == "other" and pool.stats["misses"] == 1
    await until(lambda: pool.warm_count("other") == 2)
    await pool.close()
    assert f.live() == [a, b, c]


async def test_cold_acquire_takes_the_first_start_to_finish() -> None:
    f = Factory(delay=0.05)
    pool = KernelPool(f.start, f.stop, size=1)
    insts = await asyncio.gather(*(pool.acquire("py") for _ in range(3)))
    assert len({id(i) for i in insts}) == 3
    await until(lambda: pool.warm_count("py") == 1)
    assert f.attempts == 4  # 3 for the waiters + 1 refill, no more
    await pool.close()


async def test_concurrency_cap_respected() -> None:
    f = Factory(delay=0.03)
    pool = KernelPool(f.start, f.stop, size=5, concurrency=2)
    await pool.prewarm("py", 7)
    assert pool.warm_count("py") == 7
    assert f.max_active == 2
    assert pool.stats["max_active"] == 2
    await pool.close()
    assert f.live() == []


async def test_start_failure_is_retried_once() -> None:
    f = Factory(fail={1})
    pool = KernelPool(f.start, f.stop, size=0)
    inst = await pool.acquire("py")
    assert isinstance(inst, Fake)
    assert f.attempts == 2 and pool.stats["start_failures"] == 1
    await pool.close()


async def test_start_failure_surfaced_to_acquirer() -> None:
    f = Factory(fail={1, 2})
    pool = KernelPool(f.start, f.stop, size=0)
    with pytest.raises(RuntimeError, match="start 2 failed"):
        await pool.acquire("py")
    assert f.attempts == 2
    # the spec is not broken for good: the next acquire tries again
    inst = await pool.acquire("py")
    assert isinstance(inst, Fake)
    await pool.close()


async def test_background_refill_failure_reaches_next_acquire() -> None:
    f = Factory(fail={3, 4})  # the two prewarm starts succeed, the refill fails twice
    pool = KernelPool(f.start, f.stop, size=2)
    await pool.prewarm("py")
    a = await pool.acquire("py")  # triggers the failing refill
    await until(lambda: f.attempts == 4 and pool.starting_count("py") == 0)
    assert pool.stats["starts"] == 4  # refills paused after the failure: no crash loop
    b = await pool.acquire("py")  # a warm one is still there: served, no error
    assert {a, b} == set(f.started[:2])
    with pytest.raises(RuntimeError, match="start 4 failed"):
        await pool.acquire("py")  # none warm: the stored failure is raised
    await until(lambda: pool.warm_count("py") == 2)  # refills resumed
    await pool.close()


async def test_prewarm_raises_start_failure() -> None:
    f = Factory(fail={1, 2})
    pool = KernelPool(f.start, f.stop, size=1, concurrency=1)
    with pytest.raises(RuntimeError, match="failed"):
        await pool.prewarm("py")
    await pool.close()


async def test_dead_warm_instance_is_skipped() -> None:
    f = Factory()
    dead: set[int] = set()

    async def alive(inst: Fake) -> bool:
        return inst.n not in dead

    pool = KernelPool(f.start, f.stop, size=2, alive=alive)
    await pool.prewarm("py")
    dead.add(f.started[0].n)
    inst = await pool.acquire("py")
    assert inst is f.started[1]
    await until(lambda: f.started[0].stopped)
    await pool.close()


async def test_close_stops_everything_and_leaks_no_task() -> None:
    f = Factory(delay=0.2)
    before = own_tasks()
    pool = KernelPool(f.start, f.stop, size=3, concurrency=1)
    await pool.prewarm("py", 1)
    waiter = asyncio.ensure_future(pool.acquire("other"))  # queued behind the refills
    await asyncio.sleep(0.05)  # one start in progress, the rest queued on the semaphore
    await pool.close()
    with pytest.raises(PoolClosedError):
        await waiter
    assert f.live() == []  # warm ones stopped, in-progress start finished then stopped
    assert own_tasks() - before == set()
    with pytest.raises(PoolClosedError):
        await pool.acquire("py")
    await pool.close()  # twice is fine


async def test_close_cancels_starts_past_grace() -> None:
    f = Factory(delay=10)
    pool = KernelPool(f.start, f.stop, size=1)
    task = asyncio.ensure_future(pool.prewarm("py"))
    await until(lambda: f.active == 1)
    await pool.close(grace=0.05)
    assert f.cancelled == 1
    with pytest.raises(PoolClosedError):
        await task
    assert not pool._tasks


# -- integration: real ipykernels --------------------------------------------------------
async def test_pool_of_real_ipykernels() -> None:
    from jupyter_client import AsyncKernelManager

    workdir = tempfile.mkdtemp(prefix="mkdbg-pooltest-")
    ids = itertools.count(1)
    started: list = []

    async def start(spec: str):
        n = next(ids)
        km = AsyncKernelManager(
            kernel_name=spec,
            transport="ipc",
            ip=os.path.join(workdir, f"k{n}"),
            connection_file=os.path.join(workdir, f"k{n}.json"),
        )
        await km.start_kernel(stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL)
        kc = km.client()
        kc.start_channels()
        try:
            await kc.wait_for_ready(timeout=60)
        except BaseException:
            kc.stop_channels()
            await km.shutdown_kernel(now=True)
            raise
        started.append((km, kc))
        return km, kc

    async def stop(k) -> None:
        km, kc = k
        kc.stop_channels()
        await km.shutdown_kernel(now=True)

    pool = KernelPool(start, stop, size=2)
    try:
        await pool.prewarm("python3")
        warm = list(started)
        assert len(warm) == 2
        km, kc = await pool.acquire("python3")
        assert (km, kc) in warm  # acquire handed out a warm kernel, it started none
        assert await km.is_alive()
        reply = await kc.execute("x = 6 * 7", reply=True, timeout=30)
        assert reply["content"]["status"] == "ok"
        await until(lambda: pool.warm_count("python3") == 2, timeout=60)  # refilled
        pids = [k.provisioner.pid for k, _ in started]
    finally:
        await pool.close()
    await stop((km, kc))  # the acquired one is ours to stop
    for pid in pids:
        if psutil.pid_exists(pid):
            assert psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    assert len(started) == 3
