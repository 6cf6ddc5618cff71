"""Kernels on other hosts, as the meta-kernel starts, watches and ends them.

Remote kernels are started by kernel provisioners (gateway_provisioners, the `[remote]`
extra); `remote_host(km)` tells a started kernel's host, which decides its call-plane
transport (`callplane/tcp.py`) and how it is reported (traces, frames, deaths).

`SSHProvisioner` (kernelspec provisioner `metakernel-dbg-ssh`, what `metakernel-dbg
remote-spec` writes) is gateway_provisioners' `DistributedProvisioner` with the pitfalls of
gateway_provisioners 0.5.0 handled:

1. Its ResponseManager (where launchers send their connection info) polls a listening
   socket with a 10 ms timeout from a 0.1 ms periodic callback: `accept()` blocks the event
   loop 10 ms per tick, and every kernel, local ones too, slows down. The socket is made
   non-blocking (`fix_response_manager`, on the loop thread that created it).
2. `python` as argv[0] is not replaced by an interpreter on the remote host: refused with a
   clear error; the kernelspec names the remote interpreter by its absolute path.
3. The env given to `start_kernel` is dropped (only the kernelspec's env reaches the host):
   the variables named in `forward_env` are passed on. No secret goes there: keys travel in
   the bootstrap, over the kernel's Curve-encrypted shell channel.
4. `root` is refused by default: `unauthorized_users` is empty here (the meta-kernel starts
   kernels as its own user, with its own ssh key; the default guards a gateway's users).
5. `pid` is a pid on the remote host: `ChildKernel` never signals it locally.
6. A launch that times out leaves the kernel running (its listener's port is not known
   yet, so `kill()` believes it gone): it is killed over ssh, by its process group.
7. `kill()` sends SIGTERM and polls for 5 s before SIGKILL, and an ipykernel outlives
   SIGTERM: it sends SIGKILL at once, as jupyter_client does for local kernels. And a
   graceful shutdown ends the listener at once, so that `poll()` (which asks the
   listener) reports the kernel gone while it may still run: the listener is left to end
   with its kernel.

8. Requests to the listener (poll, signals) get 10 ms to connect (GP_SOCKET_TIMEOUT): on a
   loaded host a live kernel is then reported gone. They get `listener_timeout` here, and
   a poll that times out counts the kernel alive (its lease decides).
9. The ResponseManager is a process-wide singleton whose periodic callback stays on the
   event loop that first made it: once that loop stops (an engine closed), no later
   launch in the process gets its connection info. It moves to the running loop.

Also: transport encryption (CurveZMQ) is required; the ssh launch (paramiko, ~0.2 s) runs
in a worker thread, not on the event loop; `poll()`, a TCP connection to the remote
listener each time, is answered from the last result for `min_poll_interval` seconds.
"""

from __future__ import annotations

import asyncio
import json
import os
import shlex
import signal
import time
from dataclasses import dataclass
from typing import Any

from gateway_provisioners.distributed import DistributedProvisioner
from gateway_provisioners.remote_provisioner import RemoteProvisionerBase
from gateway_provisioners.response_manager import ResponseManager
from traitlets import Float, List, Set, Unicode, default

__all__ = ["RemoteHost", "SSHProvisioner", "fix_response_manager", "remote_host"]


@dataclass(frozen=True)
class RemoteHost:
    """Where a remote kernel runs: the host's name (traces, frames) and address (call plane)."""

    name: str
    ip: str


def remote_host(km: Any) -> RemoteHost | None:
    """The host of a started kernel whose provisioner runs it elsewhere (None: this host)."""
    provisioner = getattr(km, "provisioner", None)
    if not isinstance(provisioner, RemoteProvisionerBase) or not provisioner.assigned_ip:
        return None
    fix_response_manager()
    return RemoteHost(provisioner.assigned_host or provisioner.assigned_ip, provisioner.assigned_ip)


def fix_response_manager() -> None:
    """Pitfalls 1 and 9: the ResponseManager's socket made non-blocking, and its periodic
    callback moved to the running event loop if the loop it had stopped (idempotent; call
    it on the loop that launches kernels)."""
    manager = ResponseManager.instance()
    sock = manager._response_socket
    if sock is not None and sock.gettimeout() != 0.0:
        sock.setblocking(False)
    processor = manager._connection_processor
    loop = getattr(getattr(processor, "io_loop", None), "asyncio_loop", None)
    if processor is not None and (loop is None or loop.is_closed() or not loop.is_running()):
        processor.stop()
        manager._connection_processor = None
        manager._start_response_manager()  # a new periodic callback, on this loop


class SSHProvisioner(DistributedProvisioner):
    """DistributedProvisioner with the pitfalls of gateway_provisioners 0.5.0 handled."""

    forward_env = List(
        Unicode(),
        default_value=["PYDEVD_DISABLE_FILE_VALIDATION"],
        config=True,
        help="variables of the env given to start_kernel that are passed to the remote kernel",
    )
    min_poll_interval = Float(
        0.5, config=True, help="seconds during which poll() answers from its last result"
    )
    listener_timeout = Float(
        2.0, config=True, help="seconds to reach the remote launcher's listener"
    )
    encryption = Unicode("required", config=True, help="transport encryption: 'required' or 'auto'")
    unauthorized_users = Set(config=True, help="users refused (default: GP_UNAUTHORIZED_USERS)")

    @default("unauthorized_users")
    def _no_user_refused(self) -> set[str]:
        names = os.getenv(self.unauthorized_users_env, "")
        return {n for n in names.split(",") if n}

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        fix_response_manager()
        self._polled: tuple[float, int | None] | None = None
        self._forwarded: dict[str, str] = {}

    async def pre_launch(self, **kwargs: Any) -> dict[str, Any]:
        python = self.kernel_spec.argv[0]
        if not os.path.isabs(python):
            raise ValueError(
                f"kernelspec {self.kernel_spec.display_name!r}: argv[0] {python!r} must be the "
                "remote host's interpreter by absolute path (it is not replaced there)"
            )
        env = kwargs.get("env") or {}
        self._forwarded = {k: env[k] for k in self.forward_env if k in env}
        kwargs["transport_encryption"] = self.encryption
        return await super().pre_launch(**kwargs)

    async def launch_kernel(self, cmd: list[str], **kwargs: Any) -> Any:
        """DistributedProvisioner.launch_kernel, with the ssh launch off the event loop."""
        self.kernel_log = None
        env = kwargs.get("env", {})
        self.assigned_host = self._determine_next_host(env)
        self.ip = self.assigned_ip = await asyncio.to_thread(_resolve, self.assigned_host)
        launch_kwargs = RemoteProvisionerBase._scrub_kwargs(kwargs)
        try:
            pid = await asyncio.to_thread(self._launch_remote_process, cmd, **launch_kwargs)
            self.pid = int(pid)
        except Exception as exc:  # noqa: BLE001 - reported as GP does, with the host
            self.log_and_raise(
                RuntimeError(f"Failure occurred starting kernel on '{self.ip}': {exc}")
            )
        self.log_kernel_launch(cmd)
        await self.confirm_remote_startup()
        return self.connection_info

    def _build_startup_command(self, cmd: list[str], **kwargs: Any) -> Any:
        command = super()._build_startup_command(cmd, **kwargs)
        exports = "".join(f"export {k}={shlex.quote(v)};" for k, v in self._forwarded.items())
        return exports + command if isinstance(command, str) else command

    async def poll(self) -> int | None:
        """None while the listener answers, 0 once it refuses (gone); a host that does not
        answer in time counts as alive: its lease decides (callplane/lease.py)."""
        now = time.monotonic()
        if self._polled is not None and self._polled[1] is not None:
            return self._polled[1]  # gone stays gone
        if self._polled is None or now - self._polled[0] >= self.min_poll_interval:
            try:
                await self._send_listener_request({"signum": 0})
                result = None
            except TimeoutError:
                result = None
            except OSError:
                result = 0
            self._polled = (now, result)
        return self._polled[1]

    async def _send_listener_request(self, request: dict, shutdown_socket: bool = False) -> None:
        """GP's, with a timeout that a loaded host meets: GP allows 10 ms to connect
        (GP_SOCKET_TIMEOUT), after which a live kernel is reported gone."""
        if self.comm_port <= 0:
            return
        connect = asyncio.open_connection(self.comm_ip, self.comm_port)
        _, writer = await asyncio.wait_for(connect, self.listener_timeout)
        try:
            writer.write(json.dumps(request).encode())
            if shutdown_socket:
                writer.write_eof()
            await asyncio.wait_for(writer.drain(), self.listener_timeout)
        finally:
            writer.close()

    async def kill(self, restart: bool = False) -> None:
        """SIGKILL, as jupyter_client kills local kernels (GP's SIGTERM first, then 5 s of
        polls, only delays), then the listener's own end."""
        self._polled = None
        if self.comm_port <= 0:
            if self.pid and self.ip:  # never connected back: the launch timed out
                await asyncio.to_thread(self._kill_launch)
            return
        await self.send_signal(signal.SIGKILL)
        await self.shutdown_listener(restart)

    async def shutdown_requested(self, restart: bool = False) -> None:
        """Nothing yet: GP ends the listener here, at once, after which poll() reports a
        kernel that is still shutting down (or hangs) as gone. An ipykernel ends its
        listener itself as it shuts down (it signals its children), and `kill()` both."""

    async def terminate(self, restart: bool = False) -> None:
        self._polled = None
        await super().terminate(restart)

    def _kill_launch(self) -> None:
        """Pitfall 6: the launch's process group on the remote host (the ssh session's,
        holding the launcher, and the kernel and listener it became)."""
        script = (
            f"pg=$(ps -o pgid= -p {int(self.pid)} | tr -d ' '); "
            '[ -n "$pg" ] && [ "$pg" -gt 1 ] && kill -KILL -- "-$pg"; true'
        )
        try:
            self._rsh(self.ip, script)
        except Exception as exc:  # noqa: BLE001 - reported, the start failed anyway
            self.log.warning(f"could not end the timed-out launch on {self.ip}: {exc}")

    async def log_tail(self, limit: int = 2000) -> str:
        """The end of the kernel's log on its host (what it printed before it died)."""
        if not self.kernel_log or not self.ip:
            return ""
        command = f"tail -c {int(limit)} {shlex.quote(self.kernel_log)}"
        try:
            lines = await asyncio.wait_for(asyncio.to_thread(self._rsh, self.ip, command), 10)
        except Exception:  # noqa: BLE001 - the host may be unreachable
            return ""
        return "".join(lines or [])


def _resolve(host: str) -> str:
    from socket import gethostbyname

    return gethostbyname(host)
