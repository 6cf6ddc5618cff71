"""One child kernel: started through jupyter_client, spoken to over its own five channels.

Children are started with `AsyncKernelManager(kernel_name=...)`, so kernel provisioners named
in a kernelspec apply, and each child has its own Session key. A `ChildKernel` multiplexes
its channels: replies resolve futures by `msg_id`, IOPub and stdin messages go to the
handler registered for the request that caused them, debug events to a debug listener.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from jupyter_client import AsyncKernelManager
from jupyter_client.kernelspec import NoSuchKernel

from ..errors import KernelStartError

if TYPE_CHECKING:
    from .remote import RemoteHost

IopubHandler = Callable[[dict[str, Any]], None]
_IDLE_AFTER_REPLY = 2.0  # seconds a relayed request's IOPub idle may trail its reply
_IOPUB_PROBE = 0.5  # seconds to wait for IOPub traffic after a kernel_info reply
StdinHandler = Callable[[dict[str, Any]], None]


class ChildKernel:
    """A started child kernel and the routing of its messages."""

    def __init__(self, instance_id: str, spec: str, function: str | None, workdir: str) -> None:
        self.instance_id = instance_id
        self.spec = spec
        self.function = function
        self.workdir = workdir
        self.km: AsyncKernelManager | None = None
        self.kc: Any = None
        self.pid: int | None = None
        self._replies: dict[str, asyncio.Future[dict[str, Any]]] = {}
        self._iopub: dict[str, IopubHandler] = {}
        self._idle: dict[str, asyncio.Future[None]] = {}  # IOPub idle of relayed requests
        self._iopub_seen = asyncio.Event()  # our IOPub subscription is live
        self._stdin: dict[str, StdinHandler] = {}
        self._tasks: list[asyncio.Task[None]] = []
        #: called with every `debug_event` content this child publishes
        self.on_debug_event: Callable[[ChildKernel, dict[str, Any]], None] | None = None
        #: called with IOPub messages no request claimed (output of served calls' kernels)
        self.on_stray_iopub: IopubHandler | None = None
        self.exit_status: dict[str, Any] | None = None
        self.log_path = ""
        #: where the kernel runs when its provisioner put it on another host (`pid` is a pid
        #: there: never signalled from here); None on this host
        self.remote: RemoteHost | None = None
        #: why a remote kernel counts as gone although its provisioner did not say so
        self.lost: str | None = None
        self._remote_log = ""

    @property
    def label(self) -> str:
        where = f" on {self.remote.name}" if self.remote else ""
        return f"{self.function or 'main'} [{self.spec} pid {self.pid}{where}]"

    def kernel_info(self) -> dict[str, Any]:
        """Identity of this kernel as recorded in traces (a fresh copy: spans own theirs)."""
        kernel_id = self.km.kernel_id if self.km else None
        host = self.remote.name if self.remote else _HOST
        return {"spec": self.spec, "kernel_id": kernel_id or "", "pid": self.pid, "host": host}

    # -- lifecycle ---------------------------------------------------------------------
    async def start(
        self,
        env: dict[str, str],
        timeout: float,
        transport: str = "auto",
        provisioner: dict[str, Any] | None = None,
    ) -> None:
        """Start and wait until the kernel answers kernel_info; kill it if it never does.

        Transport "auto" uses ipc (no port race between concurrent starts) for ipykernel,
        which supports it, and tcp on 127.0.0.1 for other kernels. `provisioner`: a
        `kernel_provisioner` stanza to use instead of the kernelspec's (the fork server's).
        """
        conn = os.path.join(self.workdir, f"{self.instance_id}.json")
        # transport encryption where a kernelspec declares it (remote ones: see remote.py)
        self.km = AsyncKernelManager(
            kernel_name=self.spec, connection_file=conn, transport_encryption="auto"
        )
        try:
            argv = self.km.kernel_spec.argv
            if provisioner is not None:
                self.km.kernel_spec.metadata["kernel_provisioner"] = provisioner
            if transport == "ipc" or (transport == "auto" and "ipykernel_launcher" in argv):
                self.km.transport = "ipc"
                self.km.ip = os.path.join(self.workdir, f"{self.instance_id}-ipc")
            self.log_path = os.path.join(self.workdir, f"{self.instance_id}.log")
            with open(self.log_path, "ab") as log:
                await self.km.start_kernel(env=env, cwd=os.getcwd(), stdout=log, stderr=log)
        except NoSuchKernel as exc:
            raise KernelStartError(f"no such kernelspec {self.spec!r}") from exc
        except asyncio.CancelledError:  # e.g. the engine closing: a launch under way ends too
            await asyncio.shield(self._kill_launch())
            raise
        except Exception as exc:  # noqa: BLE001 - provisioners raise anything
            raise KernelStartError(f"kernelspec {self.spec!r} failed to start: {exc}") from exc
        self.remote = _remote_host(self.km)
        self.pid = getattr(self.km.provisioner, "pid", None)
        if self.remote is not None and self.km.curve_publickey is None:
            await self.shutdown(now=True)  # the bootstrap would carry its keys in clear
            raise KernelStartError(
                f"kernelspec {self.spec!r} started a kernel on {self.remote.name} without "
                "CurveZMQ transport encryption; kernels on other hosts need it (declare "
                "'curve' in its metadata.supported_encryption)"
            )
        self.kc = self.km.client()
        # no heartbeat: death is the provisioner's poll (and a remote child's lease); a
        # heartbeat thread per child would wake every second in every idle kernel
        self.kc.start_channels(hb=False)
        for channel, route in (
            (self.kc.shell_channel, self._route_reply),
            (self.kc.control_channel, self._route_reply),
            (self.kc.iopub_channel, self._route_iopub),
            (self.kc.stdin_channel, self._route_stdin),
        ):
            self._tasks.append(asyncio.create_task(self._pump(channel, route)))
        try:
            await asyncio.wait_for(self._until_ready(), timeout)
        except asyncio.CancelledError:  # e.g. a pool closing: never leave the process behind
            await asyncio.shield(self.shutdown(now=True))
            raise
        except (TimeoutError, KernelStartError) as exc:
            await self.shutdown(now=True)
            if isinstance(exc, KernelStartError):
                raise
            raise KernelStartError(
                f"kernelspec {self.spec!r} (pid {self.pid}) did not answer within {timeout:g} s"
            ) from None

    async def _kill_launch(self) -> None:
        provisioner = self.km.provisioner if self.km else None
        if provisioner is not None:
            with contextlib.suppress(Exception):
                await provisioner.kill()

    async def _until_ready(self) -> None:
        """Until the kernel answers kernel_info and its IOPub reaches us.

        Like jupyter_client's `wait_for_ready`: IOPub is a PUB/SUB pair, and what the kernel
        publishes before our subscription is live is lost (a cell's output, with a kernel
        that starts fast). A kernel publishes busy/idle for every request; kernel_info is
        repeated until one of those arrives.
        """
        while True:
            reply = asyncio.ensure_future(self.request("kernel_info_request", {}))
            while not reply.done():
                done, _ = await asyncio.wait({reply}, timeout=0.1)
                if not done and not await self.km.is_alive():  # type: ignore[union-attr]
                    reply.cancel()
                    raise KernelStartError(
                        f"kernelspec {self.spec!r} exited during startup ({await self.poll_exit()})"
                    )
            reply.result()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._iopub_seen.wait(), _IOPUB_PROBE)
                return

    async def poll_exit(self) -> str:
        """Describe how the process ended ('killed by signal 9 (SIGKILL)', 'exit code 1');
        a remote kernel whose provisioner cannot tell is 'lost'."""
        if self.remote is not None:
            tail = getattr(self.km.provisioner if self.km else None, "log_tail", None)
            if tail is not None and not self._remote_log:
                self._remote_log = await tail()
            return f"was lost: {self.lost or f'host {self.remote.name} does not tell how it ended'}"
        status = await self.exit_info()
        if status.get("signal"):
            return f"killed by signal {status['signal']} ({signal.Signals(status['signal']).name})"
        if status.get("exit_code") is not None:
            return f"exited with code {status['exit_code']}"
        return "still running"

    async def exit_info(self) -> dict[str, Any]:
        """Exit status from the provisioner: {"signal": n} or {"exit_code": n} or {}."""
        if self.exit_status is not None:
            return self.exit_status
        if self.remote is not None:  # its provisioner's poll() only means "still reachable"
            return {}
        provisioner = self.km.provisioner if self.km else None
        code = await provisioner.poll() if provisioner else None
        if code is None:
            return {}
        self.exit_status = {"signal": -code} if code < 0 else {"exit_code": code}
        return self.exit_status

    def last_output(self, limit: int = 2000) -> str:
        """The tail of the kernel's own stdout/stderr (its log), for reports of a death."""
        if self.remote is not None:
            return self._remote_log[-limit:]  # fetched from its host by poll_exit()
        try:
            with open(self.log_path, "rb") as f:
                f.seek(0, os.SEEK_END)
                f.seek(max(0, f.tell() - limit))
                return f.read().decode(errors="replace")
        except OSError:
            return ""

    async def is_alive(self) -> bool:
        if self.lost is not None:
            return False
        return bool(self.km) and await self.km.is_alive()  # type: ignore[union-attr]

    def mark_lost(self, reason: str) -> None:
        """A remote kernel is gone for the call plane (e.g. its lease ran out); any thread."""
        self.lost = reason

    async def interrupt(self) -> None:
        if self.km and await self.km.is_alive():
            await self.km.interrupt_kernel()

    def fail_pending(self, exc: BaseException) -> None:
        """The kernel is gone: every request still waiting for a reply fails with exc."""
        for fut in list(self._replies.values()):
            if not fut.done():
                fut.set_exception(exc)
        self._replies.clear()

    async def shutdown(self, now: bool = False) -> None:
        """End the kernel and everything it spawned (debugpy adapters included)."""
        for task in self._tasks:
            task.cancel()
        self._tasks.clear()
        self.fail_pending(ConnectionError(f"{self.label} shut down"))
        if self.kc is not None:
            self.kc.stop_channels()
        if self.km is not None:
            local = self.remote is None  # a remote pid means nothing here: never signal it
            descendants = _descendants(self.pid) if local else []
            with contextlib.suppress(Exception):
                await self.km.shutdown_kernel(now=now)
            for pid in descendants:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            if self.pid and local:
                # the kernel led its own process group (start_new_session); debugpy adapters
                # re-parent to init but stay in it
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(self.pid, signal.SIGKILL)

    # -- requests ----------------------------------------------------------------------
    async def request(
        self,
        msg_type: str,
        content: dict[str, Any],
        channel: str = "shell",
        on_iopub: IopubHandler | None = None,
        on_stdin: StdinHandler | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Send a request and wait for its reply; IOPub/stdin messages it causes go to handlers.

        With an IOPub handler, also wait (briefly) for the request's IOPub idle: output may
        trail the reply, and the handler must have seen all of it when this returns.
        """
        msg = self.kc.session.msg(msg_type, content, metadata=metadata)
        msg_id = msg["header"]["msg_id"]
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[dict[str, Any]] = loop.create_future()
        self._replies[msg_id] = fut
        if on_iopub:
            self._iopub[msg_id] = on_iopub
            self._idle[msg_id] = loop.create_future()
        if on_stdin:
            self._stdin[msg_id] = on_stdin
        getattr(self.kc, f"{channel}_channel").send(msg)
        try:
            reply = await fut
            idle = self._idle.get(msg_id)
            if idle is not None:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(asyncio.shield(idle), _IDLE_AFTER_REPLY)
            return reply
        finally:
            self._idle.pop(msg_id, None)
            self._replies.pop(msg_id, None)
            self._stdin.pop(msg_id, None)
            # IOPub of a request may trail its reply; its handler is dropped at idle.

    def send(self, msg_type: str, content: dict[str, Any], channel: str = "shell") -> str:
        """Fire a request whose reply nobody awaits now (the serve loop); returns msg_id."""
        msg = self.kc.session.msg(msg_type, content)
        getattr(self.kc, f"{channel}_channel").send(msg)
        return msg["header"]["msg_id"]

    def expect_reply(self, msg_id: str) -> asyncio.Future[dict[str, Any]]:
        fut: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._replies[msg_id] = fut
        return fut

    def input_reply(self, value: str) -> None:
        self.kc.stdin_channel.send(self.kc.session.msg("input_reply", {"value": value}))

    async def execute(self, code: str, **kw: Any) -> dict[str, Any]:
        """Run code silently (bootstrap, define); raise RuntimeError with the error if it fails."""
        content = {
            "code": code,
            "silent": True,
            "store_history": False,
            "allow_stdin": False,
            "user_expressions": kw.pop("user_expressions", {}),
        }
        reply = await self.request("execute_request", content, **kw)
        return reply["content"]

    # -- pumps -------------------------------------------------------------------------
    async def _pump(self, channel: Any, route: Callable[[dict[str, Any]], None]) -> None:
        while True:
            try:
                msg = await channel.get_msg()
            except asyncio.CancelledError:
                raise
            except Exception:  # noqa: BLE001 - a malformed message must not stop the pump
                continue
            route(msg)

    def _route_reply(self, msg: dict[str, Any]) -> None:
        fut = self._replies.pop(msg["parent_header"].get("msg_id", ""), None)
        if fut is not None and not fut.done():
            fut.set_result(msg)

    def _route_iopub(self, msg: dict[str, Any]) -> None:
        self._iopub_seen.set()
        msg_type = msg["header"]["msg_type"]
        if msg_type == "debug_event":
            if self.on_debug_event:
                self.on_debug_event(self, msg["content"])
            return
        parent_id = msg["parent_header"].get("msg_id", "")
        handler = self._iopub.get(parent_id)
        if msg_type == "status":
            if msg["content"].get("execution_state") == "idle":
                self._iopub.pop(parent_id, None)
                idle = self._idle.get(parent_id)
                if idle is not None and not idle.done():
                    idle.set_result(None)
            return
        if handler is not None:
            handler(msg)
        elif parent_id and self.on_stray_iopub and msg_type != "iopub_welcome":
            self.on_stray_iopub(msg)

    def _route_stdin(self, msg: dict[str, Any]) -> None:
        handler = self._stdin.get(msg["parent_header"].get("msg_id", ""))
        if handler is not None:
            handler(msg)


def _descendants(pid: int | None) -> list[int]:
    """Processes started by the kernel, to reap those that outlive it (debugpy adapters)."""
    if pid is None:
        return []
    try:
        import psutil

        return [p.pid for p in psutil.Process(pid).children(recursive=True)]
    except Exception:  # noqa: BLE001 - the process may already be gone
        return []


def _remote_host(km: AsyncKernelManager) -> RemoteHost | None:
    """Where a started kernel runs, if a remote provisioner (gateway_provisioners) put it
    on another host: only then is that package imported at all."""
    if "gateway_provisioners" not in sys.modules:
        return None
    from .remote import remote_host

    return remote_host(km)


_HOST = os.uname().nodename
