"""The fork server and its kernel provisioner, with real kernels.

The engine forks ipykernel children from a server that imported IPython and ipykernel once;
a plain jupyter_client KernelManager can use the same server through a kernelspec that names
the `metakernel-dbg-fork` provisioner.
"""

from __future__ import annotations

import asyncio
import io
import json
import os
import signal
import socket
import sys
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest
from conftest import wait_processes_gone
from jupyter_client import AsyncKernelManager

from metakernel_dbg import Session
from metakernel_dbg.launch.forkserver import ForkServer, kernel_python

WHOAMI = "def whoami():\n    import os\n    return [os.getpid(), os.getppid(), os.getsid(0)]\n"


def gone(pids: list[int]) -> list[int]:
    """The pids still running after the usual wait (zombies count as gone)."""
    procs = []
    for pid in pids:
        try:
            procs.append(psutil.Process(pid))
        except psutil.NoSuchProcess:
            pass
    return [p.pid for p in wait_processes_gone(procs)]


@pytest.fixture
def session() -> Iterator[Session]:
    with Session(stdout=io.StringIO(), pool_size=0, call_timeout=60) as s:
        yield s


def test_function_kernels_are_forked_from_the_server(session: Session) -> None:
    session.define("whoami", WHOAMI)
    pid, parent, sid = session.call("whoami")
    server = psutil.Process(parent)
    assert "metakernel_dbg.launch.forkserver" in " ".join(server.cmdline())
    assert server.ppid() == os.getpid(), "the server is the meta-kernel's child"
    assert sid == pid, "each forked kernel leads its own session, like start_new_session"
    # a forked kernel that dies is reported with its signal (the server reaped it)
    session.define("die", "def die():\n    import os\n    os.kill(os.getpid(), 9)\n")
    with pytest.raises(Exception, match=r"killed by signal 9 \(SIGKILL\)"):
        session.call("die")


def test_fork_off_starts_kernels_the_ordinary_way() -> None:
    with Session(stdout=io.StringIO(), pool_size=0, fork=False) as s:
        s.define("whoami", WHOAMI)
        _pid, parent, _sid = s.call("whoami")
        assert parent == os.getpid()


def test_killing_the_server_ends_its_kernels_and_starts_go_on(session: Session) -> None:
    session.define("whoami", WHOAMI)
    pid, parent, _ = session.call("whoami")
    os.kill(parent, signal.SIGKILL)
    assert gone([pid]) == [], "a kernel outlived its fork server"
    session.define("again", WHOAMI.replace("whoami", "again"))
    _pid, new_parent, _ = session.call("again")
    assert new_parent == os.getpid(), "without a server, kernels start the ordinary way"


async def test_a_kernelspec_can_name_the_fork_provisioner(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Any jupyter_client user can start kernels from a fork server via a kernelspec."""
    python = kernel_python(["python"])
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    server = await ForkServer.start(python, str(tmp_path / "fork"), env, timeout=60)
    kernel_dir = tmp_path / "kernels" / "forked"
    kernel_dir.mkdir(parents=True)
    spec = {
        "argv": [python, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "forked",
        "language": "python",
        "metadata": {"kernel_provisioner": server.provisioner()},
    }
    (kernel_dir / "kernel.json").write_text(json.dumps(spec))
    # a malformed request is refused without taking the server down
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as bad:
        bad.connect(server.path)
        bad.sendall(b"{not json")
        bad.shutdown(socket.SHUT_WR)
        assert await asyncio.to_thread(bad.recv, 100) == b""
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path))
    km = AsyncKernelManager(kernel_name="forked")
    kc = None
    try:
        await km.start_kernel()
        assert type(km.provisioner).__name__ == "ForkProvisioner"
        assert psutil.Process(km.provisioner.pid).ppid() == server.proc.pid
        kc = km.client()
        kc.start_channels()
        await kc.wait_for_ready(timeout=60)
        msg_id = kc.execute("import os; os.getppid()")
        while True:
            msg = await kc.get_iopub_msg(timeout=30)
            if msg["parent_header"].get("msg_id") == msg_id and msg["msg_type"] == "execute_result":
                assert msg["content"]["data"]["text/plain"] == str(server.proc.pid)
                break
        pid = km.provisioner.pid
    finally:
        if kc is not None:
            kc.stop_channels()
        await km.shutdown_kernel(now=True)
        await server.stop()
    assert await asyncio.to_thread(gone, [pid, server.proc.pid]) == []
