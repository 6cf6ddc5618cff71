"""The console tracer: pdb at a prompt for renders whose call stack spans kernels.

`jupyter console` has no debugger panel and ignores `debug_event`. The tracer is the
second client of the meta-kernel's ONE debug session (the frontend's DAP requests are the
first, side by side): it sends the same DAP requests (`DebugSession.handle`, on the engine
loop), so the stack it prints is the merged `stackTrace` a debugger panel gets. Magics
(magics.py) arm it:

- ``%break FUNC[:LINE]`` / ``%break PATH:LINE``, ``%tbreak ...`` (one-shot), ``%breaks``,
  ``%clear [N|all]``, ``%pdb [on|off]`` (stop where an exception is raised),
  ``%trace [--json PATH]`` (merged trace of the last failed render), and the ``%step CODE``
  prefix (run CODE stopped at its first line).

The engine tells the tracer when a render begins and ends (it is a render watcher), and
the debug session tells it of every stop. When a render the tracer armed stops, the
meta-kernel prompts on its stdin channel as the cell's own execute_request
(`input_request`, answered in the cell's stdin box in JupyterLab) and runs pdb-like
commands (view.py); output goes out as `stream` on IOPub. While a frontend debug session
is on (JupyterLab's debugger), the panel handles every stop and the tracer never prompts.

The command parser and the formatters are pure functions (core.py, tested without
kernels); the `Tracer` is the I/O shell: magics on the kernel's loop, render and stop
events on the engine loop, the prompts in one worker thread per render (it blocks on stdin).
"""

from __future__ import annotations

import asyncio
import itertools
import os
import queue
import threading
from dataclasses import dataclass, field
from typing import Any

import zmq

from ..debug.cellpath import cell_path
from ..debug.dapcore import VIRTUAL_THREAD_ID
from ..kernel.magics import MagicError
from .core import (
    PROMPT,
    RED,
    RESUME,
    BreakError,
    Command,
    CommandError,
    Frame,
    Location,
    error_text,
    exception_summary,
    first_statement_line,
    format_header,
    format_where,
    frames_from_stack,
    paint,
    parse_command,
    resolve_break,
)
from .view import Output, StopView

Json = dict[str, Any]
_DAP_TIMEOUT = 60.0
_RESUME_TIMEOUT = 10.0
_ABORTED = "the render was aborted at the console (quit)"
_MAIN_ABORT_WAIT = 3.0  # seconds a resumed main cell may take to make its next call


class DapError(RuntimeError):
    """A request the proxy answered with ``success: false``."""


class _Cancelled(Exception):
    """The prompt was abandoned: the render ended, or the user interrupted."""


@dataclass
class Breakpoint:
    number: int
    vid: int  # the proxy's virtual breakpoint id
    path: str
    line: int
    label: str
    temporary: bool
    hits: int = 0


@dataclass
class RenderContext:
    """One render (cell) the tracer supervises; its stops are handled by one worker thread
    (the prompt blocks on stdin), in order, until the render ends."""

    ident: Any
    parent: dict[str, Any]
    allow_stdin: bool
    color: bool
    stops: queue.Queue[Json | None] = field(default_factory=queue.Queue)
    cancel: threading.Event = field(default_factory=threading.Event)
    worker: threading.Thread | None = None
    prompting: bool = False
    interrupted: bool = False
    aborting: bool = False
    muted: bool = False
    postmortem: bool = False
    step_bp: tuple[int, str] | None = None
    last: Command | None = None  # what an empty line repeats


class Tracer:
    """The console tracer of one meta-kernel (see the module docstring)."""

    def __init__(self, kernel: Any, session: Any) -> None:
        self.kernel = kernel
        self.engine = kernel.engine
        self.session = session
        #: console breakpoints by number; changed on the engine loop only
        self.breaks: dict[int, Breakpoint] = {}
        self._numbers = itertools.count(1)
        self._seq = itertools.count(1)
        self.pdb = False
        self._step_next = False
        self._ctx: RenderContext | None = None
        self._resumed = threading.Event()
        self._step_vids: set[int] = set()
        self._deleted: list[Breakpoint] = []
        #: sources of the cells run in the main kernel, by their cell path
        self._cells: dict[str, str] = {}
        self.session.stop_listeners.append(self._on_event)
        self.engine.render_watchers.append(self)
        self.engine.interrupt_hooks.append(self.on_interrupt)

    # -- helpers -----------------------------------------------------------------------
    @property
    def cell_dir(self) -> str:
        return self.engine.cell_dir

    def _color(self, parent: dict[str, Any] | None) -> bool:
        """ANSI colours unless the request (metadata ``color: false``) or NO_COLOR says no."""
        meta = (parent or {}).get("metadata") or {}
        for key in ("color", "colors"):
            if key in meta:
                value = meta[key]
                return value not in (False, "NoColor", "nocolor", "none", 0)
        return not os.environ.get("NO_COLOR")

    def _functions(self) -> dict[str, tuple[str, str]]:
        return {n: (f.filename, f.source) for n, f in list(self.engine.functions.items())}

    def publish(self, text: str, parent: dict[str, Any] | None = None) -> None:
        """stdout stream on IOPub, parented to the console's execute_request."""
        kernel = self.kernel
        if parent is None:
            kernel.publish("stream", {"name": "stdout", "text": text})
            return
        kernel.flush_output()  # the render's own output comes first
        kernel.session.send(
            kernel.iopub_socket,
            "stream",
            {"name": "stdout", "text": text},
            parent=parent,
            ident=kernel._topic("stream"),
        )
        # IOPub sends go through ipykernel's IO thread: wait until this one is out, so that
        # frontends see it before the input_request that follows on the stdin channel
        iopub_thread = getattr(kernel, "iopub_thread", None)
        if iopub_thread is not None and getattr(iopub_thread, "thread", None) is not None:
            sent = threading.Event()
            iopub_thread.schedule(sent.set)
            sent.wait(2.0)

    # -- magics (kernel loop) --------------------------------------------------------------
    async def magic_break(self, words: list[str], rest: str, temporary: bool) -> None:
        name = "tbreak" if temporary else "break"
        if rest.strip() or len(words) > 1:
            raise MagicError(f"usage: %{name} FUNC[:LINE] | PATH:LINE")
        if not words:
            await self.magic_breaks()
            return
        try:
            loc = resolve_break(words[0], self._functions(), self.cell_dir, os.getcwd())
        except BreakError as exc:
            raise MagicError(str(exc)) from None
        bp, failures = await self.engine.run(self._add_break(loc, temporary))
        kind = "Temporary breakpoint" if bp.temporary else "Breakpoint"
        self.publish(f"{kind} {bp.number} at {bp.label}\n")
        self._warn(failures)

    async def _add_break(self, loc: Location, temporary: bool) -> tuple[Breakpoint, list[str]]:
        """On the engine loop: the book, the console's numbering, every child's debugger."""
        failures = await self.session.start_for_console()
        await self._dump_cell(loc.path)
        vid = self.session.book.add(loc.path, loc.line, temporary=temporary)
        bp = next((b for b in self.breaks.values() if b.vid == vid), None)
        if bp is None:
            bp = Breakpoint(next(self._numbers), vid, loc.path, loc.line, loc.label, temporary)
            self.breaks[bp.number] = bp
        elif not temporary:
            bp.temporary = False
        await self.session.push_breakpoints(loc.path)
        return bp, failures

    async def _dump_cell(self, path: str) -> None:
        """A `%%function` cell's file must exist for debugpy to honour breakpoints in it:
        write it as JupyterLab's `dumpCell` does (the cell text, hashed to that path)."""
        if os.path.exists(path) or not path.startswith(self.cell_dir.rstrip(os.sep) + os.sep):
            return
        for _name, (filename, source) in self._functions().items():
            if filename == path and source.startswith("# %%function"):
                cell = source[2:]
                if cell_path(self.cell_dir, cell) == path:
                    await self.session.handle(self._request("dumpCell", {"code": cell}))
                return

    def _warn(self, failures: list[str]) -> None:
        for failure in failures:
            self.kernel.publish(
                "stream", {"name": "stderr", "text": f"debugger not started in {failure}\n"}
            )

    async def magic_breaks(self) -> None:
        rows = await self.engine.run(self._live_breaks())
        if not rows:
            text = "no breakpoints (set one with %break FUNC[:LINE])\n"
        else:
            text = "".join(
                f"{b.number:>3}  {'tbreak' if b.temporary else 'break ':<6}  {b.label}"
                f"{f'  (hit {b.hits}x)' if b.hits else ''}\n"
                for b in rows
            )
        text += f"pdb {'on' if self.pdb else 'off'}\n"
        self.publish(text)

    async def _live_breaks(self) -> list[Breakpoint]:
        """The console's breakpoints still in the book (a frontend's `setBreakpoints` for a
        path replaces the breakpoints of that path, console ones included)."""
        for bp in list(self.breaks.values()):
            lines = self.session.book.arguments_for(bp.path)["breakpoints"]
            if all(b["line"] != bp.line for b in lines):
                del self.breaks[bp.number]
        return sorted(self.breaks.values(), key=lambda b: b.number)

    async def magic_clear(self, words: list[str], rest: str) -> None:
        if rest.strip() or len(words) > 1:
            raise MagicError("usage: %clear [N | all]")
        if not words or words[0] == "all":
            numbers = sorted(self.breaks)
        else:
            try:
                numbers = [int(words[0])]
            except ValueError:
                raise MagicError(f"%clear: {words[0]!r} is not a breakpoint number") from None
            if numbers[0] not in self.breaks:
                raise MagicError(f"%clear: no breakpoint {numbers[0]} (see %breaks)")
        removed = await self.engine.run(self._clear(numbers))
        text = "".join(f"Deleted breakpoint {b.number} at {b.label}\n" for b in removed)
        self.publish(text or "no breakpoints\n")

    async def _clear(self, numbers: list[int]) -> list[Breakpoint]:
        removed, paths = [], set()
        for number in numbers:
            bp = self.breaks.pop(number, None)
            if bp is None:
                continue
            removed.append(bp)
            try:
                paths.add(self.session.book.remove(bp.vid))
            except LookupError:
                pass
        for path in paths:
            await self.session.push_breakpoints(path)
        return removed

    async def magic_pdb(self, words: list[str], rest: str) -> None:
        if rest.strip() or len(words) > 1 or (words and words[0] not in _ON_OFF):
            raise MagicError("usage: %pdb [on | off]")
        self.pdb = _ON_OFF[words[0]] if words else not self.pdb
        failures = await self.engine.run(self._set_pdb(self.pdb))
        state = "on: an uncaught exception stops where it is raised" if self.pdb else "off"
        self.publish(f"pdb {state}\n")
        self._warn(failures)

    async def _set_pdb(self, on: bool) -> list[str]:
        failures = await self.session.start_for_console() if on else []
        filters = [f for f in self.session.book.exception_filters if f != "userUnhandled"]
        if on:
            filters.append("userUnhandled")
        await self.session.handle(self._request("setExceptionBreakpoints", {"filters": filters}))
        return failures

    async def magic_trace(self, words: list[str], rest: str) -> None:
        if rest.strip() or not (words == [] or (len(words) == 2 and words[0] == "--json")):
            raise MagicError("usage: %trace [--json PATH]")
        trace = self.engine.router.last_failure
        if trace is None:
            raise MagicError("no failed render to show yet", "NoTrace")
        if words:
            path = os.path.abspath(words[1])
            with open(path, "w", encoding="utf-8") as f:
                f.write(trace.to_json())
            self.publish(f"trace saved to {path}\n")
            return
        text = trace.to_text(color=self._color(self.kernel._render_parent))
        self.publish(text if text.endswith("\n") else text + "\n")

    def arm_step(self) -> None:
        """`%step`: the next cell stops at its first line."""
        self._step_next = True

    # -- renders (engine loop: the engine tells its render watchers) -----------------------
    @property
    def armed(self) -> bool:
        return bool(self.breaks) or self.pdb

    async def render_started(self, origin: Any) -> None:
        """A cell's render begins: when armed, prompt at each of its stops (on our stdin
        channel, as the cell's request), until it ends. `origin`: the cell (None: a render
        that no frontend request made)."""
        step, self._step_next = self._step_next, False
        if origin is None or not (self.armed or step) or self.session.started:
            return
        ctx = RenderContext(
            origin.ident, origin.parent, origin.allow_stdin, self._color(origin.parent)
        )
        self._cells_put(origin.code)
        try:
            failures, ctx.step_bp = await self._prepare(origin.code, step)
        except Exception as exc:  # noqa: BLE001 - the cell still runs, untraced
            failures, ctx.step_bp = [f"the tracer: {exc}"], None
        self._warn(failures)
        ctx.worker = threading.Thread(target=self._serve_stops, args=(ctx,), daemon=True)
        ctx.worker.start()
        self._ctx = ctx

    async def render_ended(self, origin: Any) -> None:
        """The render is over: abandon a prompt still open (a kernel died), tidy up."""
        ctx, self._ctx = self._ctx, None
        if ctx is None:
            return
        ctx.cancel.set()
        ctx.stops.put(None)
        assert ctx.worker is not None
        await asyncio.to_thread(ctx.worker.join)
        await self._finish(ctx)

    def _serve_stops(self, ctx: RenderContext) -> None:
        """The render's worker thread: one prompt session per stop, in order."""
        while (event := ctx.stops.get()) is not None:
            if not ctx.cancel.is_set():
                self._session(ctx, event)

    def _cells_put(self, code: str) -> None:
        """Remember the cell's source for where/list (the main kernel runs it under its path)."""
        if len(self._cells) > 256:
            self._cells.clear()
        self._cells[cell_path(self.cell_dir, code)] = code

    async def _prepare(self, code: str, step: bool) -> tuple[list[str], tuple[int, str] | None]:
        """On the engine loop: debuggers in every child; for %step a one-shot breakpoint."""
        failures = await self.session.start_for_console()
        if not step:
            return failures, None
        reply = await self.session.handle(self._request("dumpCell", {"code": code}))
        path = reply["body"]["sourcePath"]
        vid = self.session.book.add(path, first_statement_line(code), temporary=True)
        if not self.session.book.is_temporary(vid):  # a permanent one is there already
            return failures, None
        self._step_vids.add(vid)
        await self.session.push_breakpoints(path)
        return failures, (vid, path)

    async def _finish(self, ctx: RenderContext) -> None:
        if ctx.muted:
            await self.session.mute_children(False)
        if ctx.step_bp is not None:
            vid, path = ctx.step_bp
            self._step_vids.discard(vid)
            if self.session.book.is_temporary(vid):
                self.session.book.remove(vid)
                await self.session.push_breakpoints(path)

    def on_interrupt(self) -> bool:
        """Engine interrupt hook: True when the tracer handles the interrupt (it aborts the
        render like `quit`: no signal reaches a kernel suspended in its debugger)."""
        ctx = self._ctx
        if ctx is None:
            return False
        ctx.aborting = True
        if ctx.prompting:
            ctx.interrupted = True
            ctx.cancel.set()
            return True
        return False

    @staticmethod
    def _request(command: str, arguments: Json) -> Json:
        return {"type": "request", "seq": 0, "command": command, "arguments": arguments}

    # -- debug events (engine loop) ------------------------------------------------------------
    def _on_event(self, event: Json) -> None:
        name = event.get("event")
        if name == "continued":
            self._resumed.set()
            return
        if name != "stopped":
            return
        self._resumed.clear()
        body = event.get("body") or {}
        hits = [h for h in body.get("hitBreakpointIds") or [] if isinstance(h, int)]
        owned = self._drop_temporaries(hits)
        if self.session.started:
            return  # the frontend's debugger panel handles this stop
        ctx = self._ctx
        if ctx is None or not self._armed_stop(body, hits, owned):
            # nobody to ask (a stop outside a traced render): run on rather than hang
            asyncio.ensure_future(
                self.session.handle(self._request("continue", {"threadId": VIRTUAL_THREAD_ID}))
            )
            return
        ctx.stops.put(event)

    def _drop_temporaries(self, hits: list[int]) -> bool:
        """Remove one-shot breakpoints that were hit; True if a hit one is the console's."""
        owned = False
        vids = {b.vid: b for b in self.breaks.values()}
        for vid in hits:
            bp = vids.get(vid)
            if bp is not None:
                bp.hits += 1
            owned = owned or bp is not None or vid in self._step_vids
            if self.session.book.is_temporary(vid):
                path = self.session.book.remove(vid)
                asyncio.ensure_future(self.session.push_breakpoints(path))
                if bp is not None:
                    del self.breaks[bp.number]
                    self._deleted.append(bp)
        return owned

    def _armed_stop(self, body: Json, hits: list[int], owned: bool) -> bool:
        """Whether the console armed this stop (breakpoints left by a frontend that has
        since disconnected do not count; neither do exceptions while %pdb is off)."""
        reason = body.get("reason")
        if reason == "exception":
            return self.pdb
        if reason == "breakpoint" and hits:
            return owned
        return True

    # -- the prompt (worker thread) --------------------------------------------------------------
    def dap(self, command: str, arguments: Json) -> Json:
        """One request to the shared debug proxy, from this worker thread."""
        request = {
            "type": "request",
            "seq": next(self._seq),
            "command": command,
            "arguments": arguments,
        }
        try:
            reply = self.engine.submit(self.session.handle(request)).result(timeout=_DAP_TIMEOUT)
        except Exception as exc:  # noqa: BLE001 - the engine loop is gone or stuck
            raise DapError(f"{command} failed: {type(exc).__name__}: {exc}") from None
        if not reply.get("success"):
            raise DapError(reply.get("message") or f"{command} failed")
        return reply.get("body") or {}

    def _ask(self, ctx: RenderContext, prompt: str) -> str:
        """`input_request` on our stdin channel as the console's request (like the kernel's
        `_input_request`, but abandoned when `ctx.cancel` is set)."""
        kernel = self.kernel
        while True:  # purge stale replies
            try:
                kernel.stdin_socket.recv_multipart(zmq.NOBLOCK)
            except zmq.ZMQError:
                break
        kernel.session.send(
            kernel.stdin_socket,
            "input_request",
            {"prompt": prompt, "password": False},
            ctx.parent,
            ident=ctx.ident,
        )
        while not ctx.cancel.is_set():
            readable, _, failed = zmq.select([kernel.stdin_socket], [], [kernel.stdin_socket], 0.05)
            if readable or failed:
                _ident, reply = kernel.session.recv(kernel.stdin_socket)
                if reply is None:
                    continue
                value = str((reply.get("content") or {}).get("value", ""))
                if value == "\x04":
                    raise EOFError
                return value
        raise _Cancelled

    def _session(self, ctx: RenderContext, event: Json) -> None:
        """Handle one stop: show where, then run commands until one resumes the render."""
        out = Output(self, ctx)
        try:
            self._stopped(ctx, event, out)
        except Exception as exc:  # noqa: BLE001 - never leave the render stopped for good
            out.error(f"the tracer failed ({type(exc).__name__}: {exc}); continuing")
            self._resume(out, "continue", quiet=True)
        finally:
            out.flush()

    def _stopped(self, ctx: RenderContext, event: Json, out: Output) -> None:
        body = event.get("body") or {}
        if not self.session.stop.stopped:
            return  # resumed meanwhile (the kernel died, or a frontend took over)
        exception = body.get("reason") == "exception"
        quiet = exception and ctx.postmortem and exception_summary(body).startswith("RemoteError")
        if ctx.aborting or quiet:
            self._resume(out, "continue", quiet=True)  # aborting, or an error shown already
            return
        try:
            view = StopView(self, self._load_frames())
        except DapError as exc:
            out.error(f"cannot read the stack: {error_text(str(exc))}")
            view = StopView(self, [])
        while self._deleted:
            bp = self._deleted.pop(0)
            out.line(f"Deleted temporary breakpoint {bp.number} at {bp.label}")
        if exception:
            ctx.postmortem = True
            out.line(paint(exception_summary(body), RED, ctx.color))
        if view.frames:
            out.write(format_header(view.frames[0], self.cell_dir, ctx.color))
        if not ctx.allow_stdin:
            out.write(format_where(view.frames, 0, ctx.color))
            out.line("(this frontend cannot answer input requests: continuing)")
            self._resume(out, "continue")
            return
        while True:
            out.flush()
            ctx.prompting = True
            try:
                line = self._ask(ctx, PROMPT)
            except (EOFError, KeyboardInterrupt):
                line = "quit"
            except _Cancelled:
                if ctx.interrupted:
                    out.line("interrupted")
                    self._quit(out, ctx)
                return
            finally:
                ctx.prompting = False
            try:
                command = parse_command(line, ctx.last, not view.frames or view.frame.python)
            except CommandError as exc:
                out.error(str(exc))
                continue
            if command is None:
                continue
            ctx.last = command
            if command.name == "quit":
                self._quit(out, ctx)
                return
            if command.name in RESUME:
                if self._resume(out, RESUME[command.name]):
                    return
                continue
            try:
                view.run(command, out)
            except DapError as exc:
                out.error(error_text(str(exc)))
            except CommandError as exc:
                out.error(str(exc))

    def _load_frames(self) -> list[Frame]:
        body = self.dap("stackTrace", {"threadId": self.session.stop.thread_id})
        frames = frames_from_stack(body.get("stackFrames", []))
        for frame in frames:
            lines = self.source_lines(frame.path)
            if 0 < frame.line <= len(lines):
                frame.source = lines[frame.line - 1]
        return frames

    def source_lines(self, path: str) -> list[str]:
        """Source of a frame's file: cells run here, function definitions, else the proxy's
        `source` request (dumped cells, files)."""
        if not path:
            return []
        if path in self._cells:
            return self._cells[path].splitlines()
        for filename, source in self._functions().values():
            if filename == path:
                return source.splitlines()
        try:
            return str(
                self.dap("source", {"source": {"path": path}}).get("content", "")
            ).splitlines()
        except DapError:
            return []

    def _resume(self, out: Output, command: str, quiet: bool = False) -> bool:
        self._resumed.clear()
        try:
            self.dap(command, {"threadId": VIRTUAL_THREAD_ID})
        except DapError as exc:
            if not quiet:
                out.error(error_text(str(exc)))
                out.flush()
            return False
        return True

    def _quit(self, out: Output, ctx: RenderContext) -> None:
        """Abort the render, without signalling kernels that run under a debugger when
        possible (a KeyboardInterrupt inside pydevd's tracer can break it):

        - no more stops in this render (the children's breakpoints are muted until it ends);
        - stopped in a function kernel: its call fails at once with ``CallAborted`` in its
          caller, which unwinds the render to the main kernel's cell like any error; the
          stopped kernel is resumed, finishes that call and its result is dropped;
        - stopped in the main kernel's cell: resume it; its next call fails the same way
          (or, if it makes none within a few seconds, the main kernel is interrupted).
        """
        ctx.aborting = True
        out.line("aborting the render")
        out.flush()
        owner = self.session.stop.owner
        if not ctx.muted:
            ctx.muted = True
            self.engine.submit(self.session.mute_children(True)).result(timeout=_DAP_TIMEOUT)
        main = self.engine.main
        if owner is not None and (main is None or owner != main.instance_id):
            self.engine.submit(self._abort_call(owner)).result(timeout=_DAP_TIMEOUT)
            self._resume(out, "continue", quiet=True)
            return
        if self._resume(out, "continue", quiet=True):
            self._resumed.wait(_RESUME_TIMEOUT)  # never signal a kernel still suspended
        self.engine.submit(self._abort_main()).result(timeout=_DAP_TIMEOUT)

    async def _abort_call(self, owner: str) -> None:
        """Fail the call `owner` serves: its caller raises CallAborted at once."""
        router = self.engine.router
        failure = {"kind": "aborted", "message": _ABORTED}
        await asyncio.wrap_future(
            router.call_soon(lambda: router.fail_calls_served_by(owner, failure))
        )

    async def _abort_main(self) -> None:
        """The main kernel's cell runs again: fail its first call, or interrupt it."""
        router = self.engine.router
        deadline = asyncio.get_running_loop().time() + _MAIN_ABORT_WAIT
        while asyncio.get_running_loop().time() < deadline:
            if not router.renders:
                return  # the cell is over
            levels = await asyncio.wrap_future(router.call_soon(router.stack_levels))
            served = [lvl.callee for lvl in levels if lvl.callee is not None]
            if served:
                await self._abort_call(served[-1].instance_id)
                return
            await asyncio.sleep(0.02)
        if self.engine.main is not None and router.renders:
            await self.engine.main.child.interrupt()


_ON_OFF = {"on": True, "1": True, "true": True, "off": False, "0": False, "false": False}
