"""Run a program on a kernel the way JupyterLab debugs it, and record what a user observes.

Per stop: the `stopped` reason, every frame (function, line from its def), the locals of
every frame, and an `evaluate` of a local of the top frame; at the end the cell's stdout and error.
The same recorder drives the reference (a stock ipykernel) and the meta-kernel; only the
cells differ (program.py) and the frames are named alike (`name  [spec pid N]` -> `name`).
"""

from __future__ import annotations

import os
import queue
import re
import time
from typing import Any

from ..bench.dapclient import DebugKernel
from .program import Program, def_line

MAX_STOPS = 25
#: run in the reference kernel before its debugger starts: the standard library and the
#: installed packages are hidden as metakernel_dbg hides them in its kernels (otherwise
#: stock ipykernel stops hundreds of times in IPython's lazily loaded traceback formatter
#: under the "raised" filter whenever a cell ends in an error)
HIDE_LIBRARIES = (
    "from metakernel_dbg.runtimes.python.debughooks import library_dirs as _dirs\n"
    "get_ipython().kernel.debugger.kernel_modules.extend(_dirs())\ndel _dirs"
)
_TIMEOUT = 60.0
#: variables that group others (debugpy's "special variables", "function variables")
_GROUPS = re.compile(r" variables$")


def _kernel_env() -> dict[str, str]:
    """Both kernels get TCP_NODELAY on their debugger's sockets (the meta-kernel's children
    always have it, through `launch/childsite`): it changes timing only, and it spares the
    stock kernel a ~40 ms Nagle stall per debug request."""
    childsite = os.path.join(os.path.dirname(os.path.dirname(__file__)), "launch", "childsite")
    env = dict(os.environ, PYDEVD_DISABLE_FILE_VALIDATION="1")
    env["PYTHONPATH"] = os.pathsep.join(p for p in (childsite, env.get("PYTHONPATH")) if p)
    return env


class Recorder:
    """One kernel with its debugger started, reused for program after program."""

    def __init__(self, workdir: str, side: str, kernel_name: str) -> None:
        self.side = side
        self.kernel = DebugKernel(workdir, side, kernel_name, env=_kernel_env())
        if side == "reference":  # library code is hidden, as metakernel_dbg hides it
            self.kernel.run(HIDE_LIBRARIES)
        self.kernel.start_debugger()
        self.kernel.request("setExceptionBreakpoints", {"filters": []})
        self._paths: list[str] = []  # paths holding breakpoints, cleared before each program
        self._reply: dict[str, Any] | None = None  # the render's execute_reply

    def close(self) -> None:
        self.kernel.close()

    def record(self, program: Program) -> dict[str, Any]:
        """The observations of one run of `program` (JSON-able)."""
        try:
            return self._record(program)
        except Exception as exc:
            raise RuntimeError(f"{self.side}: {type(exc).__name__}: {exc}") from exc

    def _record(self, program: Program) -> dict[str, Any]:
        k = self.kernel
        for path in self._paths:
            k.request("setBreakpoints", {"source": {"path": path}, "breakpoints": []})
        self._paths = []
        self._settle()
        meta = self.side == "meta"
        cells = program.meta_cells() if meta else program.reference_cells()
        render = program.meta_render() if meta else program.reference_render()
        where: dict[str, tuple[str, int]] = {}  # cell path -> (function, its def line)
        for function, cell in zip(program.functions, cells, strict=True):
            path = k.request("dumpCell", {"code": cell})["sourcePath"]
            where[path] = (function.name, def_line(cell, function.name))
            k.run(cell)
        render_path = k.request("dumpCell", {"code": render})["sourcePath"]
        where[render_path] = ("<render>", 0)
        by_path: dict[str, list[int]] = {}
        for name, offset in program.breakpoints:
            path = next(p for p, (fn, _) in where.items() if fn == name)
            by_path.setdefault(path, []).append(where[path][1] + offset)
        for path, lines in by_path.items():
            k.request(
                "setBreakpoints",
                {"source": {"path": path}, "breakpoints": [{"line": n} for n in lines]},
            )
            self._paths.append(path)
        k.request("setExceptionBreakpoints", {"filters": list(program.filters)})
        k.drain_events()
        self._reply = None
        msg_id = k.execute(render)
        stops: list[dict[str, Any]] = []
        steps = list(program.steps)
        while True:
            event = self._next_stop_or_reply(msg_id)
            if event is None:
                break
            stop = self._snapshot(event["body"], where)
            command = steps.pop(0) if steps and len(stops) < MAX_STOPS else "continue"
            stop["then"] = command
            stops.append(stop)
            k.request(command, {"threadId": event["body"].get("threadId", 1)})
        return {"stops": stops, **self._outcome(msg_id)}

    def _settle(self) -> None:
        """Run an empty cell, continuing any stop: a step left pending at the end of the
        last program (stock ipykernel keeps one when `next` runs off a cell) stops there,
        and each program starts from nothing."""
        k = self.kernel
        k.request("setExceptionBreakpoints", {"filters": []})
        self._reply = None
        msg_id = k.execute("pass")
        while (event := self._next_stop_or_reply(msg_id)) is not None:
            k.request("continue", {"threadId": event["body"].get("threadId", 1)})
        self._outcome(msg_id)
        k.drain_events()

    def _next_stop_or_reply(self, msg_id: str) -> dict[str, Any] | None:
        """The next `stopped` event, or None once the cell has replied (and no stop came)."""
        k = self.kernel
        deadline = time.monotonic() + _TIMEOUT
        while time.monotonic() < deadline:
            try:
                event = k.events.get(timeout=0.05)
            except queue.Empty:
                if self._replied(msg_id):
                    return None
                continue
            if event.get("event") == "stopped":
                return event
        raise TimeoutError(f"{self.side}: the render neither stopped nor ended in {_TIMEOUT} s")

    def _replied(self, msg_id: str) -> bool:
        while self._reply is None:
            try:
                msg = self.kernel.kc.get_shell_msg(timeout=0)
            except queue.Empty:
                return False
            if msg["parent_header"].get("msg_id") == msg_id:
                self._reply = msg["content"]
        return True

    def _outcome(self, msg_id: str) -> dict[str, Any]:
        """The cell's stdout (until its idle) and its error."""
        k = self.kernel
        content = self._reply or {}
        out: list[str] = []
        deadline = time.monotonic() + _TIMEOUT
        while True:
            try:
                msg = k.iopub.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                raise TimeoutError(f"{self.side}: the cell's output did not end") from None
            if msg["parent_header"].get("msg_id") != msg_id:
                continue
            kind, body = msg["header"]["msg_type"], msg["content"]
            if kind == "stream" and body.get("name") == "stdout":
                out.append(body["text"])
            elif kind == "status" and body.get("execution_state") == "idle":
                break
        error = None
        if content.get("status") == "error":
            error = [content.get("ename"), content.get("evalue")]
        return {"stdout": "".join(out), "error": error}

    def _snapshot(self, body: dict[str, Any], where: dict[str, tuple[str, int]]) -> dict[str, Any]:
        k = self.kernel
        thread = body.get("threadId", 1)
        frames = k.request("stackTrace", {"threadId": thread}).get("stackFrames", [])
        shown = []
        for frame in frames:
            path = (frame.get("source") or {}).get("path", "")
            name = frame["name"].split("  [", 1)[0]
            function, line0 = where.get(path, (os.path.basename(path), 0))
            shown.append(
                {
                    "function": name,
                    "where": function,
                    "line": frame["line"] - line0,
                    "locals": self._locals(frame["id"]),
                }
            )
        stop: dict[str, Any] = {"reason": body.get("reason"), "frames": shown}
        if body.get("reason") == "exception":
            stop["text"] = body.get("text")
        if shown and shown[0]["locals"]:
            name = min(shown[0]["locals"])
            expression = f"({name}, type({name}).__name__)"
            try:
                got = k.request(
                    "evaluate",
                    {"expression": expression, "frameId": frames[0]["id"], "context": "repl"},
                )
                stop["evaluate"] = got.get("result")
            except RuntimeError as exc:
                stop["evaluate"] = f"<failed: {exc}>"
        return stop

    def _locals(self, frame_id: int) -> dict[str, str]:
        k = self.kernel
        scopes = k.request("scopes", {"frameId": frame_id}).get("scopes", [])
        local = next((s for s in scopes if s.get("name") == "Locals"), None)
        if local is None:
            return {}
        variables = k.request("variables", {"variablesReference": local["variablesReference"]})
        return {
            v["name"]: v.get("value", "")
            for v in variables.get("variables", [])
            if not _GROUPS.search(v["name"])
        }
