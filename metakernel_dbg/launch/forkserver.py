"""Fast ipykernel starts: a fork server, and a kernel provisioner that uses it.

Most of an ipykernel's ~0.3 s start is importing IPython and ipykernel. The fork server is
one process of the kernelspec's own Python that imports them once and then forks a new
kernel per request, so a start costs the kernel's initialisation only.

`ForkProvisioner` is a jupyter_client kernel provisioner (entry point
``metakernel-dbg-fork``), so it fits wherever provisioners do: a kernelspec can name it in
``metadata.kernel_provisioner`` with ``config.server`` set to a running server's socket.
The meta-kernel's engine starts a server per Python and applies it to ipykernel specs.

Run as ``python -m metakernel_dbg.launch.forkserver SOCKET``: prints ``ready`` once it listens.
The server and every kernel it forks die with the process that started the server.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import socket
import sys
from collections.abc import Sequence
from typing import Any

from jupyter_client.provisioning import LocalProvisioner
from traitlets import Unicode

#: what a starting ipykernel imports (debugpy's pydevd included), done once in the server
_PRELOAD = (
    "ipykernel.kernelapp",
    "ipykernel.ipkernel",
    "ipykernel.debugger",
    "IPython.core.completerlib",
    "IPython.core.debugger",
    "IPython.extensions.storemagic",
    "sqlite3",
    "tornado.platform.asyncio",
    "metakernel_dbg.runtimes.python.runtime",
)
_REQUEST_MAX = 1 << 20


def is_forkable(argv: list[str]) -> bool:
    """A kernelspec argv the server can start: `PYTHON -m ipykernel_launcher ...`."""
    return len(argv) >= 3 and argv[1:3] == ["-m", "ipykernel_launcher"]


# -- the server ------------------------------------------------------------------------------
class _Server:
    def __init__(self, path: str) -> None:
        self.statuses: dict[int, int] = {}  # pid -> returncode (negative: killed by signal)
        self.listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.listener.bind(path)
        self.listener.listen(64)

    def reap(self, *_: Any) -> None:
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            self.statuses[pid] = os.waitstatus_to_exitcode(status)

    def run(self) -> None:
        signal.signal(signal.SIGCHLD, self.reap)
        print("ready", flush=True)
        while True:
            conn, _ = self.listener.accept()
            with conn:
                try:
                    self.answer(conn)
                except (OSError, ValueError, KeyError, TypeError) as exc:  # one bad request
                    print(f"fork server: request failed: {exc!r}", file=sys.stderr, flush=True)

    def answer(self, conn: socket.socket) -> None:
        """One request per connection: JSON (read to EOF) plus the child's stdout/stderr."""
        data, fds, _flags, _addr = socket.recv_fds(conn, _REQUEST_MAX, 2)
        try:
            while chunk := conn.recv(_REQUEST_MAX):
                data += chunk
            request = json.loads(data)
            if request["op"] == "fork":
                reply = {"pid": self.fork(conn, request, fds)}
            else:  # "status"
                reply = {"returncode": self.statuses.get(request["pid"])}
        finally:
            for fd in fds:
                os.close(fd)
        conn.sendall(json.dumps(reply).encode())

    def fork(self, conn: socket.socket, request: dict[str, Any], fds: list[int]) -> int:
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:
            code = 1
            try:
                conn.close()
                self.listener.close()
                code = _kernel(request, fds)
            finally:
                os._exit(code)
        return pid


def _kernel(request: dict[str, Any], fds: list[int]) -> int:
    """In the forked child: become `python -m ipykernel_launcher ARGS` in its own session."""
    os.setsid()
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    server = os.getppid()
    _die_with_parent()
    if os.getppid() != server:
        return 1
    os.dup2(os.open(os.devnull, os.O_RDONLY), 0)
    for target, fd in zip((1, 2), fds, strict=False):
        os.dup2(fd, target)
    for fd in fds:
        if fd > 2:
            os.close(fd)
    os.chdir(request["cwd"])
    os.environ.clear()
    os.environ.update(request["env"])
    os.environ.pop("MKDBG_META_PID", None)  # read by sitecustomize, which the server ran
    if sys.path and sys.path[0] in ("", os.getcwd()):
        sys.path.pop(0)  # like ipykernel_launcher
    sys.argv = ["ipykernel_launcher", *request["argv"]]
    parent = request["env"].get("JPY_PARENT_PID", "")
    if parent.isdigit():  # the trait's default was read from the server's environment
        sys.argv.append(f"--IPKernelApp.parent_handle={parent}")
    try:
        from ipykernel import kernelapp

        kernelapp.launch_new_instance()
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else 1
    return 0


def _die_with_parent() -> None:
    """SIGKILL when the server dies (Linux); the server itself dies with its parent."""
    with contextlib.suppress(OSError, AttributeError):
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL, 0, 0, 0)


def main() -> None:
    _die_with_parent()
    for name in _PRELOAD:
        __import__(name)
    _Server(sys.argv[1]).run()


# -- the client side ---------------------------------------------------------------------------
def _ask(server: str, request: dict[str, Any], fds: Sequence[int] = ()) -> dict[str, Any]:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.connect(server)
        socket.send_fds(sock, [json.dumps(request).encode()], list(fds))
        sock.shutdown(socket.SHUT_WR)
        return json.loads(sock.makefile("rb").read())


class ForkedProcess:
    """The `Popen` surface LocalProvisioner uses, for a kernel the fork server started."""

    stdin = stdout = stderr = None

    def __init__(self, server: str, pid: int) -> None:
        self.server = server
        self.pid = pid
        self.returncode: int | None = None

    def poll(self) -> int | None:
        if self.returncode is None:
            try:
                os.kill(self.pid, 0)  # cheap while it runs; the server knows how it ended
            except ProcessLookupError:
                with contextlib.suppress(OSError, ValueError):
                    self.returncode = _ask(self.server, {"op": "status", "pid": self.pid})[
                        "returncode"
                    ]
                if self.returncode is None:
                    self.returncode = -signal.SIGKILL  # the server is gone too
        return self.returncode

    def wait(self, timeout: float | None = None) -> int | None:
        return self.poll()

    def send_signal(self, signum: int) -> None:
        if self.poll() is None:
            os.kill(self.pid, signum)

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)

    def terminate(self) -> None:
        self.send_signal(signal.SIGTERM)


class ForkProvisioner(LocalProvisioner):  # type: ignore[misc]
    """Starts `python -m ipykernel_launcher` kernels by forking them from a fork server."""

    server = Unicode(help="socket of a running metakernel_dbg fork server").tag(config=True)

    async def launch_kernel(self, cmd: list[str], **kwargs: Any) -> Any:
        if not self.server or not is_forkable(cmd):
            return await super().launch_kernel(cmd, **kwargs)
        fds = [f.fileno() for f in (kwargs.get("stdout"), kwargs.get("stderr")) if f]
        request = {
            "op": "fork",
            "argv": cmd[3:],
            # like jupyter_client's launcher: the kernel learns who started it
            "env": {**(kwargs.get("env") or os.environ), "JPY_PARENT_PID": str(os.getpid())},
            "cwd": str(kwargs.get("cwd") or os.getcwd()),
        }
        try:
            reply = await asyncio.to_thread(_ask, self.server, request, fds)
        except (OSError, ValueError):  # the server is gone: start the ordinary way
            return await super().launch_kernel(cmd, **kwargs)
        self.process = ForkedProcess(self.server, reply["pid"])
        self.pid = self.pgid = reply["pid"]  # it leads its own session (like start_new_session)
        self.cwd = request["cwd"]
        return self.connection_info


def kernel_python(argv: list[str]) -> str:
    """The interpreter jupyter_client runs for this argv (it maps `python*` to its own)."""
    version = sys.version_info
    if argv[0] in {"python", f"python{version[0]}", f"python{version[0]}.{version[1]}"}:
        return sys.executable
    return argv[0]


class ForkServer:
    """A running fork server for one Python, as the engine holds it."""

    def __init__(self, python: str, path: str, proc: asyncio.subprocess.Process) -> None:
        self.python = python
        self.path = path
        self.proc = proc

    @classmethod
    async def start(cls, python: str, path: str, env: dict[str, str], timeout: float) -> ForkServer:
        """Start a server listening on `path` (its log: `path`.log); RuntimeError if it is
        not ready in time."""
        with open(f"{path}.log", "ab") as log:
            proc = await asyncio.create_subprocess_exec(
                python, "-m", __name__, path, env=env, stdout=asyncio.subprocess.PIPE, stderr=log
            )
        assert proc.stdout is not None
        server = cls(python, path, proc)
        try:
            line = await asyncio.wait_for(proc.stdout.readline(), timeout)
        except BaseException:
            await asyncio.shield(server.stop())
            raise
        if line.strip() != b"ready":
            await server.stop()
            raise RuntimeError(f"the fork server for {python} did not start")
        return server

    def provisioner(self) -> dict[str, Any]:
        """The kernelspec `metadata.kernel_provisioner` stanza that forks from this server."""
        return {"provisioner_name": "metakernel-dbg-fork", "config": {"server": self.path}}

    async def stop(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            self.proc.kill()  # kernels still running from it get SIGKILL too
        await self.proc.wait()


if __name__ == "__main__":
    main()
