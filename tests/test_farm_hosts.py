"""A render farm across emulated hosts: the Dask scheduler (and the user's `render`
command) on one network namespace, two Dask workers on another, joined by a veth pair.

Root only (the test makes the namespaces itself; skipped elsewhere with the reason). Every
process and namespace is removed at the end, even on failure.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from emulated_hosts import EmulatedHosts
from test_cli import CLI, DATA, FUNCTIONS_REL, REPO, assert_no_kernels_left, tmp

__all__ = ["tmp"]  # the fixture, shared with test_cli

EXAMPLE_INPUTS = REPO / "examples" / "wikifunctions" / "batch.jsonl"
PORT = 8786  # inside our own namespace: nothing else listens there
TIMEOUT = 300

_UNAVAILABLE = EmulatedHosts.unavailable()
pytestmark = pytest.mark.skipif(_UNAVAILABLE is not None, reason=str(_UNAVAILABLE))


def wait_listening(hosts: EmulatedHosts, host, port: int, timeout: float = 60) -> None:
    """Until something accepts TCP connections on host:port (probed from that host)."""
    probe = (
        "import socket, sys\n"
        f"socket.create_connection(({host.address!r}, {port}), timeout=1).close()\n"
    )
    deadline = time.monotonic() + timeout
    while hosts.run(host, [sys.executable, "-c", probe], 10, capture_output=True).returncode:
        assert time.monotonic() < deadline, f"nothing listens on {host.address}:{port}"
        time.sleep(0.2)


def test_farm_on_emulated_hosts(tmp: str) -> None:
    env = dict(
        os.environ,
        TMPDIR=tmp,
        WIKIFUNCTIONS_DATA=str(DATA),
        DASK_DISTRIBUTED__SCHEDULER__ALLOWED_FAILURES="1",
    )
    logs = Path(tmp)
    hosts = EmulatedHosts()
    try:
        head, node = hosts.pair("head", "node")
        scheduler = f"tcp://{head.address}:{PORT}"
        with open(logs / "scheduler.log", "w") as log:
            hosts.spawn(
                head,
                [sys.executable, "-m", "distributed.cli.dask_scheduler", "--host", head.address,
                 "--port", str(PORT), "--no-dashboard"],
                env=env, stdout=log, stderr=subprocess.STDOUT,
            )  # fmt: skip
        wait_listening(hosts, head, PORT)
        with open(logs / "workers.log", "w") as log:
            hosts.spawn(
                node,
                [sys.executable, "-m", "distributed.cli.dask_worker", scheduler, "--host",
                 node.address, "--nworkers", "2", "--nthreads", "2", "--no-dashboard"],
                env=env, stdout=log, stderr=subprocess.STDOUT, cwd=str(REPO),
            )  # fmt: skip
        out, traces = logs / "out.jsonl", logs / "traces.jsonl"
        proc = hosts.run(
            head,
            [str(CLI), "render", FUNCTIONS_REL, "--inputs", str(EXAMPLE_INPUTS), "--dask",
             scheduler, "--out", str(out), "--traces", str(traces)],
            TIMEOUT, env=env, cwd=str(REPO), capture_output=True, text=True,
        )  # fmt: skip
        assert proc.returncode == 1, proc.stderr + (logs / "workers.log").read_text()
        results = [json.loads(line) for line in out.read_text().splitlines()]
        assert len(results) == len({str(r["id"]) for r in results}) == 12
        assert sorted(r["status"] for r in results) == ["error"] * 2 + ["ok"] * 10
        written = [json.loads(line) for line in traces.read_text().splitlines()]
        assert {t["trace_id"] for t in written} == {
            r["trace_id"] for r in results if r["status"] != "ok"
        }
        engines = {t["spans"][0]["kernel"]["pid"] for t in written}  # the root: a worker
        assert engines and engines <= set(hosts.pids(node)), "rendered on the worker host"
        assert not engines & set(hosts.pids(head))
    finally:
        hosts.close()
    assert hosts.left_over() == [], "namespaces left behind"
    assert_no_kernels_left(tmp)
