"""The meta-kernel: a Python kernel whose cells run in a main child kernel and whose
functions each live in their own child kernel.

It reuses ipykernel's `Kernel` (sockets, session, control thread) and relays what a
Python kernel does (outputs, errors, stdin, completion, inspection, history, comms) from
the main child, rewriting parents so the frontend sees answers to its own requests. Busy
and idle are the meta-kernel's own. `%%function` and the other magics of `magics.py` are
handled here.
"""

from __future__ import annotations

import asyncio
import atexit
import sys
import threading
import traceback
from dataclasses import dataclass
from typing import Any

from ipykernel.kernelbase import Kernel
from traitlets import Bool, Float, Integer, Unicode

from .. import __version__
from ..console import magics as _console_magics  # noqa: F401 - registers %break, %step ...
from ..console.tracer import Tracer
from ..debug.session import DebugSession
from ..engine.engine import Engine, EngineConfig
from ..errors import MetaKernelError
from .coalesce import StreamCoalescer
from .magics import MagicError, run_magic

_RELAYED_SHELL = (
    "complete_request",
    "inspect_request",
    "is_complete_request",
    "history_request",
    "comm_info_request",
)


@dataclass(frozen=True)
class CellOrigin:
    """The frontend request a render comes from (render watchers, e.g. the console tracer,
    prompt on its stdin channel as that request)."""

    code: str
    parent: dict[str, Any]
    ident: Any
    allow_stdin: bool


class MetaKernel(Kernel):
    """Jupyter kernel `metakernel_dbg`."""

    implementation = "metakernel_dbg"
    implementation_version = __version__
    banner = (
        f"metakernel_dbg {__version__}: Python (meta-kernel debugger); "
        "%%function NAME defines a function in its own kernel, call(NAME, ...) calls it"
    )
    language_info = {
        "name": "python",
        "version": sys.version.split()[0],
        "mimetype": "text/x-python",
        "codemirror_mode": {"name": "ipython", "version": 3},
        "pygments_lexer": "ipython3",
        "nbconvert_exporter": "python",
        "file_extension": ".py",
    }

    main_kernel = Unicode("python3", help="kernelspec of the main kernel running plain cells").tag(
        config=True
    )
    max_depth = Integer(32, help="maximum call depth across kernels").tag(config=True)
    max_calls = Integer(0, help="maximum calls per render (0: unlimited)").tag(config=True)
    start_timeout = Integer(60, help="seconds a child kernel may take to start").tag(config=True)
    call_timeout = Float(0, help="seconds a call may take (0: no limit, interactive default)").tag(
        config=True
    )
    render_timeout = Float(0, help="seconds a cell's render may take (0: no limit)").tag(
        config=True
    )
    pool_size = Integer(2, help="warm function kernels kept per kernelspec (0: none)").tag(
        config=True
    )
    fork_server = Bool(
        True, help="start ipykernel children by forking them from a pre-imported server"
    ).tag(config=True)
    isolation = Unicode(
        "shared",
        help='"shared": function kernels keep their state between cells; '
        '"per-render": every cell gets fresh function kernels',
    ).tag(config=True)
    callplane_ip = Unicode(
        "", help="address kernels on other hosts dial (default: the one facing each host)"
    ).tag(config=True)
    callplane_ports = Unicode(
        "", help="TCP ports of the call plane for kernels on other hosts, LOW-HIGH (default: any)"
    ).tag(config=True)
    lease_timeout = Float(
        10.0, help="seconds after which a kernel on another host ends without its meta-kernel"
    ).tag(config=True)

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        for msg_type in _RELAYED_SHELL:
            self.shell_handlers[msg_type] = self._relay_request
        for msg_type in ("comm_open", "comm_msg", "comm_close"):
            self.shell_handlers[msg_type] = self._relay_comm
        self._render_parent: dict[str, Any] = {}
        self._out = StreamCoalescer(self._send_iopub)
        self.engine = Engine(
            self,
            EngineConfig(
                main_kernel=self.main_kernel,
                max_depth=self.max_depth,
                max_calls=self.max_calls,
                start_timeout=float(self.start_timeout),
                call_timeout=self.call_timeout or None,
                render_timeout=self.render_timeout or None,
                pool_size=self.pool_size,
                prewarm=("python3",) if self.pool_size else (),
                isolation=self.isolation,
                fork=self.fork_server,
                callplane_ip=self.callplane_ip,
                callplane_ports=_port_range(self.callplane_ports),
                lease_interval=min(1.0, self.lease_timeout / 4),
                lease_timeout=self.lease_timeout,
            ),
        )
        #: the one debug session; its two clients: the frontend (do_debug_request) and
        #: the console tracer (pdb-like prompts on stdin when a render stops)
        self.debug_session = DebugSession(self.engine, self._publish_debug_event)
        self.tracer = Tracer(self, self.debug_session)
        self.engine.start()
        atexit.register(self.engine.close)

    @property
    def kernel_info(self) -> dict[str, Any]:
        info = super().kernel_info
        info["protocol_version"] = "5.3"
        info["supported_features"] = ["debugger"]
        return info

    async def do_debug_request(self, msg: Any) -> dict[str, Any]:
        """Every debug request is answered, on the engine loop, by the debug proxy."""
        return await self.engine.run(self.debug_session.handle(msg))

    # -- output to the frontend (any thread) ----------------------------------------------
    def publish(
        self,
        msg_type: str,
        content: dict[str, Any],
        metadata: dict[str, Any] | None = None,
        buffers: list | None = None,
    ) -> None:
        """Publish on IOPub as output of the request being executed (streams coalesced)."""
        self._out.publish(msg_type, content, metadata, buffers)

    def flush_output(self) -> None:
        """Send the stream output held for coalescing (before a reply or a prompt)."""
        self._out.flush()

    def _input_request(self, *args: Any, **kwargs: Any) -> Any:
        self.flush_output()
        return super()._input_request(*args, **kwargs)

    def _publish_status(self, status: str, channel: str, parent: Any = None) -> None:
        if status == "idle":
            self.flush_output()  # a request's output comes before its idle
        super()._publish_status(status, channel, parent)

    def _send_iopub(
        self, msg_type: str, content: dict[str, Any], metadata: Any, buffers: Any
    ) -> None:
        self.session.send(
            self.iopub_socket,
            msg_type,
            content,
            parent=self._render_parent,
            metadata=metadata,
            buffers=buffers,
            ident=self._topic(msg_type),
        )

    def _relay_output(self, msg: dict[str, Any]) -> None:
        """IOPub of the main kernel, as the meta-kernel's own output."""
        msg_type = msg["header"]["msg_type"]
        if msg_type in ("execute_input", "status", "iopub_welcome"):
            return
        content = msg["content"]
        if "execution_count" in content:
            content = {**content, "execution_count": self.execution_count}
        self.publish(msg_type, content, msg.get("metadata"), msg.get("buffers"))

    # -- execution ---------------------------------------------------------------------
    async def do_execute(
        self,
        code: str,
        silent: bool,
        store_history: bool = True,
        user_expressions: dict | None = None,
        allow_stdin: bool = False,
        *,
        cell_meta: dict | None = None,
        cell_id: str | None = None,
    ) -> dict[str, Any]:
        self._render_parent = self.get_parent("shell")
        try:
            handled = await run_magic(self, code)
        except MagicError as exc:
            return self._error_reply(exc.ename, str(exc), exc.traceback_lines)
        except Exception as exc:  # noqa: BLE001 - shown in the cell like a Python error
            return self._error_reply(
                type(exc).__name__, str(exc), traceback.format_exception_only(exc)
            )
        if isinstance(handled, str):
            code = handled  # a prefix magic (`%step CODE`) prepared for running CODE
        elif handled is not None:
            return {
                "status": "ok",
                "execution_count": self.execution_count,
                "payload": [],
                "user_expressions": {},
            }
        return await self.run_in_main(
            code, silent, store_history, user_expressions or {}, allow_stdin
        )

    async def run_in_main(
        self,
        code: str,
        silent: bool,
        store_history: bool,
        user_expressions: dict,
        allow_stdin: bool,
    ) -> dict[str, Any]:
        """Run a plain cell in the main kernel as one render."""
        engine = self.engine
        main = await engine.run(engine.main_kernel())
        ident = self._get_shell_context_var(self._shell_parent_ident)
        parent = self._render_parent
        content = {
            "code": code,
            "silent": silent,
            "store_history": store_history,
            "user_expressions": user_expressions,
            "allow_stdin": allow_stdin,
            "stop_on_error": True,
        }

        def on_stdin(msg: dict[str, Any]) -> None:
            threading.Thread(
                target=self._answer_input, args=(main, msg, ident, parent), daemon=True
            ).start()

        origin = CellOrigin(code, parent, ident, allow_stdin and not silent)
        key = await engine.run(engine.begin_render("<module>", main.kernel_info(), origin, main))
        try:
            reply = await engine.run(
                main.child.request(
                    "execute_request", content, on_iopub=self._relay_output, on_stdin=on_stdin
                )
            )
        except MetaKernelError as exc:  # the main kernel died mid-cell; a new one starts
            return self._error_reply(type(exc).__name__, str(exc), [f"{exc}"])
        finally:
            await engine.run(engine.end_render(key, origin))
            self.flush_output()
        result = dict(reply["content"])
        result["execution_count"] = self.execution_count
        return result

    def _answer_input(self, main: Any, msg: dict[str, Any], ident: Any, parent: dict) -> None:
        """Ask the frontend on our stdin channel; hand the answer to the main kernel."""
        request = msg["content"]
        try:
            value = self._input_request(
                request.get("prompt", ""), ident, parent, password=request.get("password", False)
            )
        except (EOFError, KeyboardInterrupt):
            value = "\x04"
        self.engine.loop.call_soon_threadsafe(main.child.input_reply, value)

    def _error_reply(self, ename: str, evalue: str, tb: list[str]) -> dict[str, Any]:
        content = {"ename": ename, "evalue": evalue, "traceback": tb}
        self.publish("error", content)
        return {"status": "error", "execution_count": self.execution_count, **content}

    # -- relayed requests ----------------------------------------------------------------
    async def _relay_request(self, stream: Any, ident: Any, parent: dict[str, Any]) -> None:
        """complete/inspect/is_complete/history/comm_info: answered by the main kernel."""
        msg_type = parent["header"]["msg_type"]
        reply_type = msg_type.replace("_request", "_reply")
        try:
            main = await self.engine.run(self.engine.main_kernel())
            reply = await self.engine.run(main.child.request(msg_type, parent["content"]))
            content = reply["content"]
        except Exception as exc:  # noqa: BLE001 - the frontend gets an error reply
            content = {
                "status": "error",
                "ename": type(exc).__name__,
                "evalue": str(exc),
                "traceback": [],
            }
        self.session.send(stream, reply_type, content, parent, ident)

    async def _relay_comm(self, stream: Any, ident: Any, parent: dict[str, Any]) -> None:
        """Comms live in the main kernel; its comm messages come back through IOPub."""
        main = await self.engine.run(self.engine.main_kernel())
        self._render_parent = parent
        main.child.on_stray_iopub = self._relay_output
        self.engine.loop.call_soon_threadsafe(
            main.child.send, parent["header"]["msg_type"], parent["content"]
        )

    # -- lifecycle -----------------------------------------------------------------------
    async def interrupt_request(self, stream: Any, ident: Any, parent: dict[str, Any]) -> None:
        """Interrupt every kernel on the live call stack, leaving each usable."""
        content: dict[str, Any] = {"status": "ok"}
        try:
            await self.engine.run(self.engine.interrupt())
        except Exception as exc:  # noqa: BLE001
            content = {
                "status": "error",
                "ename": type(exc).__name__,
                "evalue": str(exc),
                "traceback": [],
            }
        self.session.send(stream, "interrupt_reply", content, parent, ident=ident)

    async def do_shutdown(self, restart: bool) -> dict[str, Any]:
        await asyncio.to_thread(self.engine.close)
        return {"status": "ok", "restart": restart}


def _port_range(text: str) -> tuple[int, int] | None:
    """`LOW-HIGH` as a pair (None for "")."""
    if not text:
        return None
    low, _, high = text.partition("-")
    return int(low), int(high)
