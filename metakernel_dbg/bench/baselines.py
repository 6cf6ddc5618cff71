"""Baselines measured in the same run: raw zmq and stream-socket floors, a plain ipykernel.

The echo servers run as subprocesses here, or on another host (`remote.py`: the floors of
the link between two emulated hosts, `serve(..., wrap=...)`)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

import zmq

from .stats import PAYLOAD, SPEC

_ECHO_SERVER = """
import os, sys, zmq
parent = os.getppid()
ctx = zmq.Context()
s = ctx.socket(zmq.ROUTER)
s.setsockopt(zmq.LINGER, 0)
if len(sys.argv) > 2:  # a CurveZMQ server with this secret key
    s.curve_server, s.curve_secretkey = True, sys.argv[2].encode()
s.bind(sys.argv[1])
print("ready", flush=True)
while True:
    if not s.poll(1000):
        if os.getppid() != parent:
            break  # the bench died
        continue
    frames = s.recv_multipart()
    if frames[-1] == b"quit":
        break
    s.send_multipart(frames)
"""


_STREAM_ECHO_SERVER = """
import os, socket, sys
host, _, port = sys.argv[1].rpartition(":")
if port.isdigit():  # HOST:PORT
    listener = socket.create_server((host, int(port)))
else:  # a Unix socket's path
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(sys.argv[1])
    listener.listen()
print("ready", flush=True)
conn, _ = listener.accept()
if conn.family != socket.AF_UNIX:
    conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
while True:
    data = conn.recv(65536)
    if not data or data == b"quit":
        break
    conn.sendall(data)
"""


def serve(
    script: str, *args: str, wrap: Callable[[list[str]], list[str]] = list, **popen: Any
) -> subprocess.Popen:
    """Start an echo server (`wrap` the command to run it elsewhere); once it is ready."""
    command = wrap([sys.executable, "-c", script, *args])
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, text=True, **popen)
    assert proc.stdout is not None
    if proc.stdout.readline().strip() != "ready":
        proc.kill()
        proc.wait()
        raise RuntimeError(f"echo server for {args[0]} did not start")
    return proc


def _end(proc: subprocess.Popen) -> None:
    try:
        proc.wait(timeout=5)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


class RawUnix:
    """An echo server on a stream socket: on a Unix socket (the floor of a linked call), or
    at `tcp` = (host, port), served elsewhere (the floor of a link between hosts)."""

    def __init__(self, workdir: str, tcp: tuple[str, int] | None = None) -> None:
        self.proc: subprocess.Popen | None = None
        if tcp is None:
            path = os.path.join(workdir, "echo-unix")
            self.proc = serve(_STREAM_ECHO_SERVER, path)
            self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            self.sock.connect(path)
        else:
            self.sock = socket.create_connection(tcp)
            self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.round_trips(50)

    def round_trips(self, n: int) -> list[int]:
        out = []
        sock, payload, clock = self.sock, PAYLOAD, time.perf_counter_ns
        for _ in range(n):
            t0 = clock()
            sock.sendall(payload)
            got = 0
            while got < len(payload):
                chunk = sock.recv(65536)
                if not chunk:
                    raise RuntimeError("the Unix echo server closed the connection")
                got += len(chunk)
            out.append(clock() - t0)
        return out

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.sendall(b"quit")
        self.sock.close()
        if self.proc is not None:
            _end(self.proc)


class RawZmq:
    """A ROUTER echo server and a DEALER client: the floor of any call. The server is a
    subprocess on ipc, or serves `address` elsewhere (`server_key`: a Curve server's)."""

    def __init__(
        self, workdir: str, address: str | None = None, server_key: bytes | None = None
    ) -> None:
        self.proc: subprocess.Popen | None = None
        if address is None:
            address = f"ipc://{os.path.join(workdir, 'echo')}"
            self.proc = serve(_ECHO_SERVER, address)
        self.address = address
        self.ctx = zmq.Context()
        self.sock = self.ctx.socket(zmq.DEALER)
        self.sock.setsockopt(zmq.LINGER, 0)
        if server_key is not None:
            self.sock.curve_publickey, self.sock.curve_secretkey = zmq.curve_keypair()
            self.sock.curve_serverkey = server_key
        self.sock.connect(self.address)
        self.round_trips(50)  # connect + warm up

    def round_trips(self, n: int) -> list[int]:
        out = []
        sock, payload, clock = self.sock, PAYLOAD, time.perf_counter_ns
        for _ in range(n):
            t0 = clock()
            sock.send(payload)
            sock.recv()
            out.append(clock() - t0)
        return out

    def close(self) -> None:
        with contextlib.suppress(zmq.ZMQError):
            self.sock.send(b"quit")
        self.sock.close(linger=0)
        self.ctx.term()
        if self.proc is not None:
            _end(self.proc)


class PlainKernel:
    """A kernel on ipc (by default a stock python3 ipykernel), driven by jupyter_client's
    blocking client. `close()` shuts it down; a start that fails half-way shuts it down too."""

    def __init__(
        self,
        workdir: str,
        label: str = "plain",
        kernel_name: str = SPEC,
        spec_dir: str | None = None,
        warm: int = 20,
        env: dict[str, str] | None = None,
    ) -> None:
        from jupyter_client import KernelManager
        from jupyter_client.kernelspec import KernelSpecManager

        extra: dict[str, Any] = {}
        if spec_dir is not None:
            extra["kernel_spec_manager"] = KernelSpecManager(kernel_dirs=[spec_dir])
        self.label = label
        self.kc: Any = None
        self.km = KernelManager(
            kernel_name=kernel_name,
            transport="ipc",
            ip=os.path.join(workdir, f"{label}-ipc"),
            connection_file=os.path.join(workdir, f"{label}.json"),
            **extra,
        )
        try:
            out = subprocess.DEVNULL
            self.km.start_kernel(stdout=out, stderr=out, env=env or _env())
            self.kc = self.km.client()
            self.kc.start_channels()
            self.kc.wait_for_ready(timeout=120)
            self.round_trips(warm)
        except BaseException:
            self.close()
            raise

    def round_trips(self, n: int) -> list[int]:
        out = []
        kc, clock = self.kc, time.perf_counter_ns
        for _ in range(n):
            t0 = clock()
            msg_id = kc.execute("pass", silent=True, store_history=False)
            while kc.get_shell_msg(timeout=30)["parent_header"].get("msg_id") != msg_id:
                pass
            out.append(clock() - t0)
        with contextlib.suppress(Exception):  # drop the busy/idle status messages
            while True:
                kc.iopub_channel.get_msg(timeout=0)
        return out

    def close(self) -> None:
        if self.kc is not None:
            self.kc.stop_channels()
        with contextlib.suppress(Exception):  # never started: nothing to shut down
            self.km.shutdown_kernel(now=True)


def _env() -> dict[str, str]:
    """The bench's environment for the kernels it starts itself: stock kernels, so without
    the meta-kernel's childsite (TCP_NODELAY) even if this process runs under one."""
    env = dict(os.environ)
    env["PYDEVD_DISABLE_FILE_VALIDATION"] = "1"
    path = [
        p
        for p in env.get("PYTHONPATH", "").split(os.pathsep)
        if p and not p.rstrip(os.sep).endswith(os.path.join("metakernel_dbg", "childsite"))
    ]
    if path:
        env["PYTHONPATH"] = os.pathsep.join(path)
    else:
        env.pop("PYTHONPATH", None)
    return env


async def plain_starts(n: int, concurrency: int, workdir: str) -> tuple[float, float]:
    """Start n plain ipykernels (ipc), `concurrency` at a time, each until its first
    kernel_info_reply. Returns (seconds until all ready, seconds to shut them down)."""
    from jupyter_client import AsyncKernelManager

    gate = asyncio.Semaphore(concurrency)
    kms: list[Any] = []

    async def one(i: int) -> None:
        async with gate:
            km = AsyncKernelManager(
                kernel_name=SPEC,
                transport="ipc",
                ip=os.path.join(workdir, f"p{i}-ipc"),
                connection_file=os.path.join(workdir, f"p{i}.json"),
            )
            kms.append(km)
            await km.start_kernel(stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=_env())
            kc = km.client()
            km.bench_client = kc  # type: ignore[attr-defined]
            kc.start_channels()
            msg_id = kc.kernel_info()
            deadline = time.monotonic() + 120
            while True:
                with contextlib.suppress(Exception):  # queue.Empty on timeout
                    reply = await kc.get_shell_msg(timeout=1)
                    if reply["parent_header"].get("msg_id") == msg_id:
                        return
                if time.monotonic() > deadline or not await km.is_alive():
                    raise RuntimeError(f"plain kernel {i} did not start")

    t0 = time.perf_counter()
    try:
        await asyncio.gather(*(one(i) for i in range(n)))
        ready = time.perf_counter() - t0
    finally:
        t1 = time.perf_counter()
        for km in kms:
            kc = getattr(km, "bench_client", None)
            if kc is not None:
                kc.stop_channels()
        await asyncio.gather(*(km.shutdown_kernel(now=True) for km in kms), return_exceptions=True)
        down = time.perf_counter() - t1
    return ready, down
