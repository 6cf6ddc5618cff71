"""The render farm on real Dask clusters (LocalCluster: worker processes with nannies).

Every cluster is closed by the test that made it, and afterwards no kernel it started may
be alive (each test gives the cluster its own TMPDIR, where kernels keep their
connection files). Waits are bounded; renders that must be in flight at a given moment
hold on a file the test creates.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from distributed import Client
from test_cli import CLI, DATA, FUNCTIONS_REL, Q42_EN, REPO, assert_no_kernels_left, tmp, validate

from metakernel_dbg.batch.records import read_inputs
from metakernel_dbg.farm import Farm, _Chunker, local_cluster

__all__ = ["tmp"]  # the fixture, shared with test_cli

EXAMPLE_INPUTS = REPO / "examples" / "wikifunctions" / "batch.jsonl"
FARM_TIMEOUT = 300


@contextlib.contextmanager
def cluster_client(tmp: str, workers: int = 2, threads: int = 2) -> Iterator[Client]:
    """A LocalCluster whose workers (and so their kernels) use TMPDIR=tmp; closed on exit,
    then no kernel of it may be left."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("TMPDIR", tmp)
        mp.setenv("WIKIFUNCTIONS_DATA", str(DATA))
        cluster = local_cluster(workers, threads)
    try:
        with Client(cluster) as client:
            yield client
    finally:
        cluster.close(timeout=60)
        assert_no_kernels_left(tmp, timeout=30)


def example_inputs() -> list:
    return list(read_inputs(EXAMPLE_INPUTS.read_text(encoding="utf-8").splitlines()))


def test_chunks_are_full_in_a_long_batch_and_spread_in_its_tail() -> None:
    """Plain data: up to `chunk` renders per Dask task while the batch is long, smaller
    chunks once fewer inputs are left than fill every task, each input once, in order,
    and the inputs read at most `limit * chunk` ahead."""
    read = []
    inputs = (read.append(i) or i for i in range(300))
    chunker = _Chunker(inputs, limit=8, chunk=8)  # type: ignore[arg-type]
    sizes, seen = [], []
    while chunk := chunker.next():
        assert len(read) - len(seen) - len(chunk) <= 8 * 8
        sizes.append(len(chunk))
        seen += chunk
    assert seen == list(range(300))
    assert sizes[:30] == [8] * 30 and sizes[-7:] == [1] * 7
    assert sizes == sorted(sizes, reverse=True)
    short = _Chunker(iter(range(4)), limit=8, chunk=8)  # type: ignore[arg-type]
    assert [short.next() for _ in range(5)] == [[0], [1], [2], [3], []]


def test_local_cluster_farm_renders_the_example_batch(tmp: str) -> None:
    """Results come back as data, failed renders with their trace; each worker keeps one
    warm engine across batches, and closing the farm closes the engines (and kernels)."""
    inputs = example_inputs()
    with cluster_client(tmp) as client:
        with Farm(client, FUNCTIONS_REL) as farm:
            name = farm.name  # (the lambda travels to the workers: it must not hold the farm)
            engines = client.run(lambda dask_worker: id(dask_worker.plugins[name].session))
            assert len(engines) == 2
            records = list(farm.map(inputs))
            again = list(farm.map(inputs[:2]))
            now = client.run(lambda dask_worker: id(dask_worker.plugins[name].session))
            assert now == engines, "the same engine per worker, started once"
        by_id = {r["id"]: r for r in records}
        assert len(records) == len(by_id) == len(inputs) == 12
        assert by_id["q42-en"]["result"] == Q42_EN
        assert [r["status"] for r in again] == ["ok", "ok"]
        failed = {rid for rid, r in by_id.items() if r["status"] != "ok"}
        assert failed == {"q999-en", "infobox-q999"}
        for rid in failed:
            trace = by_id[rid]["trace"]
            validate(trace)
            assert trace["trace_id"] == by_id[rid]["trace_id"]
            assert trace["stack"][-1]["function"] == "format_date"
        assert_no_kernels_left(tmp, timeout=30)  # the farm's engines closed with it


#: the Dask worker process a kernel works for (the ancestor multiprocessing spawned)
WORKER_PID = """
def _worker_pid():
    import psutil
    for proc in psutil.Process().parents():
        if "spawn_main" in " ".join(proc.cmdline()):
            return proc.pid
    raise LookupError("not in a Dask worker")
"""
#: holds until the test says go; leaves a mark per attempt naming the worker it ran on
HOLD = (
    """def hold(i, folder):
    import os, time
    open(os.path.join(folder, f"start-{i}-{_worker_pid()}"), "w").close()
    deadline = time.monotonic() + 120
    while not os.path.exists(os.path.join(folder, "go")) and time.monotonic() < deadline:
        time.sleep(0.01)
    return i
"""
    + WORKER_PID
)
#: kills the Dask worker that runs it (the engine's process), every time
POISON = (
    """def poison():
    import os, signal
    os.kill(_worker_pid(), signal.SIGKILL)
"""
    + WORKER_PID
)


def starts(folder: Path) -> list[tuple[int, int]]:
    """(render, worker pid) of every attempt so far."""
    return [tuple(map(int, p.name.split("-")[1:])) for p in folder.glob("start-*")]


def wait_for(predicate, what: str, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def test_a_worker_killed_mid_batch_loses_nothing(tmp: str) -> None:
    """Four renders in flight on two workers; one worker is SIGKILLed: its renders run
    again on another worker, every input gets exactly one record, all ok. A render that
    kills every worker it runs on is retried once, then reported as died."""
    functions, marks = Path(tmp) / "functions", Path(tmp) / "marks"
    functions.mkdir()
    marks.mkdir()
    (functions / "hold.py").write_text(HOLD)
    (functions / "poison.py").write_text(POISON)
    inputs = [{"id": i, "function": "hold", "args": [i, str(marks)]} for i in range(4)]
    with cluster_client(tmp) as client, Farm(client, str(functions)) as farm:
        records = farm.map(inputs)
        wait_for(lambda: len({w for _, w in starts(marks)}) == 2, "renders on both workers")
        wait_for(lambda: len(starts(marks)) == 4, "four renders in flight")
        victim = starts(marks)[0][1]
        lost = {i for i, w in starts(marks) if w == victim}
        os.kill(victim, signal.SIGKILL)
        wait_for(lambda: len(starts(marks)) == 4 + len(lost), "the lost renders to run again")
        (marks / "go").touch()
        got = list(records)
        assert sorted(r["id"] for r in got) == [0, 1, 2, 3], "exactly one record per input"
        assert [r["status"] for r in got] == ["ok"] * 4 and {r["result"] for r in got} == {
            0, 1, 2, 3,
        }  # fmt: skip
        again = {i for i, w in starts(marks) if w != victim and i in lost}
        assert again == lost, "each lost render ran again on another worker"

        [died] = list(farm.map([{"id": "p", "function": "poison"}]))
        assert died["status"] == "died" and died["error"]["type"] == "KilledWorker", died
        after = list(farm.map([{"id": 9, "function": "hold", "args": [9, str(marks)]}]))
        assert [r["status"] for r in after] == ["ok"], "restarted workers got their engine"


def test_render_command_on_a_local_dask_cluster(tmp: str) -> None:
    out, traces = Path(tmp) / "out.jsonl", Path(tmp) / "traces.jsonl"
    env = dict(os.environ, WIKIFUNCTIONS_DATA=str(DATA), TMPDIR=tmp)
    proc = subprocess.run(
        [str(CLI), "render", FUNCTIONS_REL, "--inputs", str(EXAMPLE_INPUTS), "--dask", "local",
         "--concurrency", "2", "--out", str(out), "--traces", str(traces)],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=FARM_TIMEOUT,
    )  # fmt: skip
    assert_no_kernels_left(tmp, timeout=30)
    assert proc.returncode == 1, proc.stderr
    results = [json.loads(line) for line in out.read_text().splitlines()]
    assert sorted(str(r["id"]) for r in results) == sorted(str(i.id) for i in example_inputs())
    assert len(traces.read_text().splitlines()) == 2
    assert "12 render(s): 10 ok, 2 error" in proc.stderr
