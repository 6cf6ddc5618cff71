"""Concurrent renders in one engine: real kernels through `Session` and `AsyncSession`.

Concurrency is shown without timing asserts: the called function is a *rendezvous* (each
call leaves a mark in a folder and waits until N marks are there), so N calls only return
if all N ran at the same time; run one after another, the first would give up (bounded
wait) and fail its render. Every wait in these tests is bounded.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import threading
import time
from pathlib import Path

import pytest
import test_session

from metakernel_dbg import AsyncSession, RenderError, Session
from metakernel_dbg.errors import MetaKernelError, RenderQueueFullError

#: call(i, n, folder): returns [i, pid] once n calls are inside at the same time
MEET = """
def meet(i, n, folder):
    import os, time
    open(os.path.join(folder, str(i)), "w").close()
    deadline = time.monotonic() + 60
    while len(os.listdir(folder)) < n:
        if time.monotonic() > deadline:
            raise TimeoutError(f"only {len(os.listdir(folder))} of {n} calls ran at once")
        time.sleep(0.01)
    return [i, os.getpid()]
"""
#: outer -> meet: a render two kernels deep, whose inner call is the rendezvous
OUTER = """
def outer(i, n, folder):
    return call("meet", i, n, folder)
"""
#: a render that remembers a value in its kernel's globals: shows which kernel state leaks
REMEMBER = """
def remember(i, n, folder):
    global seen
    before = globals().get("seen")
    seen = i
    return [before, call("meet", i, n, folder)]
"""


def open_session(**config) -> contextlib.AbstractContextManager[Session]:
    return test_session.open_session(stdout=io.StringIO(), stderr=io.StringIO(), **config)


def open_async_session(**config) -> contextlib.AbstractAsyncContextManager[AsyncSession]:
    return test_session.open_async_session(stdout=io.StringIO(), stderr=io.StringIO(), **config)


def run_threads(target, count: int, timeout: float = 120) -> dict[int, object]:
    """Run target(i) on COUNT threads at once; {i: result or exception}. Fails on a hang."""
    results: dict[int, object] = {}

    def one(i: int) -> None:
        try:
            results[i] = target(i)
        except BaseException as exc:  # noqa: BLE001 - inspected by the test
            results[i] = exc

    threads = [threading.Thread(target=one, args=(i,), daemon=True) for i in range(count)]
    for t in threads:
        t.start()
    deadline = time.monotonic() + timeout
    for t in threads:
        t.join(max(0.0, deadline - time.monotonic()))
    hung = [i for i, t in enumerate(threads) if t.is_alive()]
    assert not hung, f"calls {hung} never returned (results so far: {results})"
    return results


def test_threads_calling_one_session(tmp_path: Path) -> None:
    """Three threads, one Session: every call returns its own result, each served by its
    own kernel (a busy kernel is never re-entered), all three at the same time."""
    with open_session(pool_size=2) as s:
        s.define("meet", MEET)
        results = run_threads(lambda i: s.call("meet", i, 3, str(tmp_path)), 3)
        assert all(not isinstance(r, BaseException) for r in results.values()), results
        assert [results[i][0] for i in range(3)] == [0, 1, 2]
        assert len({results[i][1] for i in range(3)}) == 3, "one kernel served two renders"


async def test_gather_on_an_async_session(tmp_path: Path) -> None:
    """asyncio.gather of renders two kernels deep: all in flight at once, results in order."""
    async with open_async_session(pool_size=2) as s:
        await s.define("meet", MEET)
        await s.define("outer", OUTER)
        calls = (s.call("outer", i, 4, str(tmp_path)) for i in range(4))
        results = await asyncio.wait_for(asyncio.gather(*calls), 120)
        assert [r[0] for r in results] == [0, 1, 2, 3]
        assert len({r[1] for r in results}) == 4


#: hold(i, folder): marks that it started, then waits for the file "go"
HOLD = """
def hold(i, folder):
    import os, time
    open(os.path.join(folder, f"in-{i}"), "w").close()
    deadline = time.monotonic() + 60
    while not os.path.exists(os.path.join(folder, "go")):
        if time.monotonic() > deadline:
            raise TimeoutError("never released")
        time.sleep(0.01)
    return i
"""


async def wait_until(predicate, what: str, timeout: float = 60) -> None:
    """Poll PREDICATE (cheap, local) until true; fail after TIMEOUT seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        assert loop.time() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.01)


async def test_a_full_queue_refuses_with_a_clear_error(tmp_path: Path) -> None:
    """max_renders=1, max_queued=1: one render runs, one waits, the third is refused at
    once with RenderQueueFullError; the first two then finish with their own results."""
    async with open_async_session(max_renders=1, max_queued=1) as s:
        await s.define("hold", HOLD)
        engine = s._core.engine
        first = asyncio.ensure_future(s.call("hold", 1, str(tmp_path)))
        await wait_until(lambda: (tmp_path / "in-1").exists(), "the first render to run")
        second = asyncio.ensure_future(s.call("hold", 2, str(tmp_path)))
        await wait_until(lambda: engine._queued == 1, "the second render to queue")
        with pytest.raises(RenderQueueFullError, match="max_queued=1") as refused:
            await asyncio.wait_for(s.call("hold", 3, str(tmp_path)), 30)
        assert isinstance(refused.value, MetaKernelError)
        assert not (tmp_path / "in-2").exists(), "the queued render ran past the limit"
        (tmp_path / "go").touch()
        assert await asyncio.wait_for(asyncio.gather(first, second), 120) == [1, 2]
        assert not (tmp_path / "in-3").exists(), "the refused render ran"


def test_per_render_isolation_under_concurrency(tmp_path: Path) -> None:
    """isolation="per-render", three renders at once, twice: every render sees fresh
    kernels (no global left by another render) and no kernel serves two renders."""
    with open_session(isolation="per-render", pool_size=3) as s:
        s.define("remember", REMEMBER)
        s.define("meet", MEET)
        seen: list[list] = []
        for round_ in range(2):
            folder = tmp_path / str(round_)
            folder.mkdir()
            results = run_threads(lambda i, f=folder: s.call("remember", i, 3, str(f)), 3)
            assert all(not isinstance(r, BaseException) for r in results.values()), results
            seen += results.values()
        assert [before for before, _ in seen] == [None] * 6, "state leaked between renders"
        pids = [pid for _, (_, pid) in seen]
        assert len(set(pids)) == 6, pids


def test_the_call_budget_is_per_render(tmp_path: Path) -> None:
    """Two renders run at once (they meet first): the one that makes too many calls fails
    on its own budget, the other stays within its own and returns."""
    fan = """
def fan(i, n, folder):
    call("meet", i, 2, folder)
    return sum(call("one") for _ in range(n))
"""
    with open_session(pool_size=2, max_calls=5) as s:
        s.define("meet", MEET)
        s.define("one", "def one():\n    return 1\n")
        s.define("fan", fan)
        results = run_threads(lambda i: s.call("fan", i, [2, 10][i], str(tmp_path)), 2)
        assert results[0] == 2
        assert isinstance(results[1], RenderError), results
        assert "call budget of 5 calls per render used up" in str(results[1])
        spans = results[1].trace.to_dict()["spans"]
        assert sum(sp["function"] == "one" for sp in spans) == 3


def test_a_timeout_fails_only_its_own_render(tmp_path: Path) -> None:
    """Two renders meet, then one sleeps past its call timeout: that render fails with a
    timeout (its kernel replaced), the other one, running at the same time, returns."""
    sleepy = """
def sleepy(i, seconds, folder):
    import time
    call("meet", i, 2, folder)
    time.sleep(seconds)
    return i
"""
    with open_session(pool_size=2, call_timeout=3) as s:
        s.define("meet", MEET)
        s.define("sleepy", sleepy)
        results = run_threads(lambda i: s.call("sleepy", i, [0, 60][i], str(tmp_path)), 2)
        assert results[0] == 0
        assert isinstance(results[1], RenderError), results
        assert "did not return within 3 s" in results[1].trace.to_text()


def test_threads_inside_a_function_call_at_once(tmp_path: Path) -> None:
    """A function that calls from a thread pool: each thread's calls are a strand of the
    render (own stack, same trace), served by their own kernels, all at the same time."""
    fanout = """
def fanout(n, folder):
    from concurrent.futures import ThreadPoolExecutor
    with ThreadPoolExecutor(n) as pool:
        found = list(pool.map(lambda i: call("meet", i, n, folder), range(n)))
    return found + [call("meet", n, 1, folder + "-after")]
"""
    for name in ("x", "x-after", "y"):
        (tmp_path / name).mkdir()
    with open_session(pool_size=3, max_calls=0) as s:
        s.define("meet", MEET)
        s.define("fanout", fanout)
        found = s.call("fanout", 3, str(tmp_path / "x"))
        assert [i for i, _ in found] == [0, 1, 2, 3]
        assert len({pid for _, pid in found[:3]}) == 3
        fail = '    raise ValueError(f"after {len(found)} threads")\n    return found'
        broken = fanout.replace("def fanout", "def broken").replace("    return found", fail)
        s.define("broken", broken)
        with pytest.raises(RenderError, match="after 3 threads") as failure:
            s.call("broken", 3, str(tmp_path / "y"))
        d = failure.value.trace.to_dict()
        by_id = {sp["span_id"]: sp for sp in d["spans"]}
        meets = [sp for sp in d["spans"] if sp["function"] == "meet"]
        assert len(meets) == 3, "every thread's call is in the render's one trace"
        assert all(by_id[sp["parent_span_id"]]["function"] == "broken" for sp in meets)
