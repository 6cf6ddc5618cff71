"""A kernel driven the way JupyterLab drives its debugger (timed DAP requests)."""

from __future__ import annotations

import contextlib
import json
import queue
import threading
import time
from typing import Any

import psutil

from ..debug import dapcore
from .baselines import PlainKernel
from .programs import PRINT_CALL


class DebugKernel(PlainKernel):
    """A kernel driven the way JupyterLab drives its debugger: `debug_request` on the control
    channel, each timed from sending to the matching `debug_reply`; `debug_event`s and the
    other IOPub messages read by a pump thread."""

    def __init__(
        self,
        workdir: str,
        label: str,
        kernel_name: str,
        spec_dir: str | None = None,
        env: dict[str, str] | None = None,
    ):
        self.kernel_name = kernel_name
        self.events: queue.Queue[dict[str, Any]] = queue.Queue()
        self.iopub: queue.Queue[dict[str, Any]] = queue.Queue()
        self._stop = threading.Event()
        self._pump_thread: threading.Thread | None = None
        self.seq = 0
        super().__init__(workdir, label, kernel_name, spec_dir, warm=0, env=env)
        self._pump_thread = threading.Thread(target=self._pump, daemon=True)
        self._pump_thread.start()

    def _pump(self) -> None:
        while not self._stop.is_set():
            try:
                msg = self.kc.get_iopub_msg(timeout=0.1)
            except Exception:  # noqa: BLE001 - queue.Empty, or the channel closing
                continue
            if msg["header"]["msg_type"] == "debug_event":
                self.events.put(msg["content"])
            else:
                self.iopub.put(msg)

    def close(self) -> None:
        self._stop.set()
        if self._pump_thread is not None:
            self._pump_thread.join(timeout=5)
        super().close()

    # -- DAP ------------------------------------------------------------------------------
    def timed(
        self, command: str, arguments: dict[str, Any] | None = None, timeout: float = 60
    ) -> tuple[int, dict[str, Any]]:
        """(ns from sending the request to its debug_reply, the reply's body)."""
        self.seq += 1
        content: dict[str, Any] = {"type": "request", "seq": self.seq, "command": command}
        if arguments is not None:
            content["arguments"] = arguments
        msg = self.kc.session.msg("debug_request", content)
        msg_id = msg["header"]["msg_id"]
        channel = self.kc.control_channel
        deadline = time.monotonic() + timeout
        t0 = time.perf_counter_ns()
        channel.send(msg)
        while True:
            try:
                reply = channel.get_msg(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                raise TimeoutError(f"{self.label}: no debug_reply to {command}") from None
            if reply["parent_header"].get("msg_id") == msg_id:
                break
        elapsed = time.perf_counter_ns() - t0
        body = reply["content"]
        if body.get("success") is not True:
            raise RuntimeError(f"{self.label}: {command} failed: {body.get('message') or body}")
        return elapsed, body.get("body") or {}

    def request(self, command: str, arguments: dict[str, Any] | None = None) -> dict[str, Any]:
        return self.timed(command, arguments)[1]

    def wait_event(self, name: str, timeout: float = 60) -> dict[str, Any]:
        """The next `name` debug_event (the events before it are dropped)."""
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            try:
                event = self.events.get(timeout=max(0.0, remaining))
            except queue.Empty:
                raise TimeoutError(f"{self.label}: no {name} event in {timeout} s") from None
            if event.get("event") == name:
                return event

    def drain_events(self) -> None:
        with contextlib.suppress(queue.Empty):
            while True:
                self.events.get_nowait()

    def start_debugger(self) -> tuple[int, int]:
        """JupyterLab's "enable debugger": debugInfo, initialize, attach; ns of the last two."""
        self.request("debugInfo")
        t_init, _ = self.timed("initialize", dapcore.jupyterlab_initialize(self.kernel_name))
        t_attach, _ = self.timed("attach", {})
        return t_init, t_attach

    def set_breakpoint(self, cell: str, line: int | None) -> str:
        """JupyterLab's gutter click: dumpCell, debugInfo, setBreakpoints (None: remove)."""
        path = self.request("dumpCell", {"code": cell})["sourcePath"]
        self.request("debugInfo")
        body = self.request(
            "setBreakpoints",
            {
                "breakpoints": [] if line is None else [{"line": line}],
                "source": {"path": path},
                "sourceModified": False,
            },
        )
        if line is not None and not body["breakpoints"][0].get("verified"):
            raise RuntimeError(f"{self.label}: breakpoint on line {line} not verified")
        return path

    def stack(self, thread: int) -> list[dict[str, Any]]:
        return self.request("stackTrace", {"threadId": thread})["stackFrames"]

    def stop_cycle(self, thread: int) -> int:
        """ns of what JupyterLab sends on a stop: stackTrace, scopes(frame 0), variables(Locals)."""
        t0 = time.perf_counter_ns()
        frames = self.request("stackTrace", {"threadId": thread})["stackFrames"]
        scopes = self.request("scopes", {"frameId": frames[0]["id"]})["scopes"]
        local = next((s for s in scopes if s.get("name") == "Locals"), scopes[0])
        self.request("variables", {"variablesReference": local["variablesReference"]})
        return time.perf_counter_ns() - t0

    # -- cells ----------------------------------------------------------------------------
    def execute(self, code: str) -> str:
        return self.kc.execute(code)

    def reply(self, msg_id: str, timeout: float = 120) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            msg = self.kc.get_shell_msg(timeout=max(0.01, deadline - time.monotonic()))
            if msg["parent_header"].get("msg_id") == msg_id:
                content = msg["content"]
                if content.get("status") != "ok":
                    raise RuntimeError(
                        f"{self.label}: {content.get('ename')}: {content.get('evalue')}"
                    )
                return content

    def run(self, code: str, timeout: float = 120) -> str:
        """Run a cell to its end (reply and idle); its stdout."""
        msg_id = self.execute(code)
        self.reply(msg_id, timeout)
        out: list[str] = []
        deadline = time.monotonic() + timeout
        while True:
            msg = self.iopub.get(timeout=max(0.01, deadline - time.monotonic()))
            if msg["parent_header"].get("msg_id") != msg_id:
                continue
            kind, content = msg["header"]["msg_type"], msg["content"]
            if kind == "stream" and content.get("name") == "stdout":
                out.append(content["text"])
            elif kind == "status" and content.get("execution_state") == "idle":
                return "".join(out)

    def call(self, *args: Any) -> Any:
        """`call(*args)` run in a cell of the meta-kernel's main kernel; its return value."""
        return json.loads(self.run(PRINT_CALL.format(args=", ".join(map(repr, args)))))


def wait_quiet(pid: int, timeout: float = 15.0) -> None:
    """Wait until a process tree (a kernel and its children: background pool refills,
    debugpy adapters starting) uses under 10 % of a core over 0.3 s, or `timeout` passes."""
    deadline = time.monotonic() + timeout

    def cpu() -> float:
        total = 0.0
        try:
            procs = [psutil.Process(pid)]
            procs += procs[0].children(recursive=True)
        except psutil.Error:
            return 0.0
        for p in procs:
            with contextlib.suppress(psutil.Error):
                t = p.cpu_times()
                total += t.user + t.system
        return total

    while time.monotonic() < deadline:
        before = cpu()
        time.sleep(0.3)
        if cpu() - before < 0.03:
            return
