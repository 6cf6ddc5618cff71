"""The debug session: the I/O shell around `dapcore` that makes many kernels one debuggee.

ONE session per meta-kernel; it has two clients side by side: the frontend (every
`debug_request`, from JupyterLab's debugger panel) and the console tracer (console/), each
sending DAP requests to `handle()` (on the engine loop) and listening to its events.
Requests about the stopped kernel go to that child's own debugger through its debug
backend (backend.py) with ids translated; requests about callers blocked in `call()` are
answered through the call plane; the rest (debugInfo, dumpCell, source, breakpoints) the
session answers itself. Child debug events come back through `on_child_event`.

Renders that run at once (threads in a cell) are DAP threads of their own, one stack each
(`threads`, `stackTrace(threadId)`). One stop is shown at a time: a kernel of another
render that stops meanwhile stays stopped, and its `stopped` is shown once the stop on
screen has resumed.
"""

from __future__ import annotations

import ast
import asyncio
import dataclasses
import json
import os
from collections.abc import Callable
from typing import Any

from . import dapcore, stepping
from .backend import DebugBackend, load_backend
from .cellpath import cell_path
from .dapcore import IdMap, StaleId, StopState

Json = dict[str, Any]
_INSPECT_TIMEOUT = 30.0
#: how long a stop waits for the router to hear of the linked call it stopped in
_LINK_NOTICE_WAIT, _LINK_NOTICE_POLL = 2.0, 0.005
#: evaluated in the stopped thread: the exception stop's frames in other kernels
_EXCEPTION_STOP = (
    "__import__('metakernel_dbg.runtimes.python.runtime', fromlist=['_']).exception_stop()"
)


class DebugSession:
    """The one debug session over all child kernels (see the module docstring)."""

    def __init__(self, engine: Any, emit: Callable[[Json], None]) -> None:
        self.engine = engine
        self.emit = emit
        self.prefix = engine.cell_dir + os.sep
        self.ids = IdMap()
        self.book = dapcore.BreakpointBook(self.ids)
        self.stop = StopState(self.ids, self.book)
        #: the FRONTEND's debug session is on (initialize .. disconnect): debugInfo.isStarted,
        #: and the only case in which debug_events are published
        self.started = False
        # -- the second client: the console tracer (console/) ----------------------------
        #: debuggers run in the children on behalf of the console, without a frontend
        self.console_debugging = False
        #: called on the engine loop with every translated event (stopped, continued, ...),
        #: whether or not a frontend debugger is started
        self.stop_listeners: list[Callable[[Json], None]] = []
        #: per child: its debug backend, and the task that started its debugger
        self.backends: dict[str, DebugBackend] = {}
        self.debugging: dict[str, asyncio.Task[None]] = {}
        self.sources: dict[str, str] = {}
        #: stops of other renders, held while one is shown (child, its `stopped` event)
        self.deferred: list[tuple[Any, Json]] = []
        engine.instance_hooks.append(self._on_new_instance)
        engine.define_hooks.append(self._on_defined)
        engine.death_hooks.append(self._on_death)

    # -- requests -------------------------------------------------------------------------
    async def handle(self, request: Any) -> Json:
        """One frontend request in, exactly one response out (never raises, never hangs)."""
        problem = dapcore.validate_request(request)
        if problem:
            return dapcore.error_response(request, problem)
        command = request["command"]
        args = request.get("arguments") or {}
        handler = getattr(self, f"_{command}", None)
        try:
            if handler is None:
                raise ValueError(f"{command} is not supported by metakernel_dbg")
            body = await handler(args)
        except StaleId as exc:
            return dapcore.error_response(request, str(exc))
        except Exception as exc:  # noqa: BLE001 - reported in the reply
            reason = str(exc) or type(exc).__name__  # (a timeout says nothing)
            return dapcore.error_response(request, f"{command} failed: {reason}")
        if isinstance(body, dict) and body.get("__error__"):
            return dapcore.error_response(request, body["__error__"])
        return dapcore.response(request, body)

    async def _debugInfo(self, args: Json) -> Json:  # noqa: N802 - DAP command names
        return dapcore.debug_info_body(self.prefix, self.started, self.stop, self.book)

    async def _initialize(self, args: Json) -> Json:
        self.started = True
        return dapcore.initialize_body()

    async def _attach(self, args: Json) -> Json:
        await asyncio.gather(*(self._debug(i) for i in self.engine.all_instances()))
        self._emit(self.stop.event("initialized"))
        return {}

    async def _configurationDone(self, args: Json) -> Json:  # noqa: N802
        return {}

    async def _dumpCell(self, args: Json) -> Json:  # noqa: N802
        code = args["code"]
        path = cell_path(self.engine.cell_dir, code)
        os.makedirs(self.engine.cell_dir, exist_ok=True)
        with open(path, "w", encoding="utf-8") as f:
            f.write(code)
        self.sources[path] = code
        return {"sourcePath": path}

    async def _setBreakpoints(self, args: Json) -> Json:  # noqa: N802
        path = args["source"]["path"]
        body = self.book.set_breakpoints(path, args["breakpoints"])
        await self._broadcast("setBreakpoints", self.book.arguments_for(path))
        return body

    async def _setExceptionBreakpoints(self, args: Json) -> Json:  # noqa: N802
        self.book.set_exception_filters(args["filters"])
        await self._broadcast("setExceptionBreakpoints", {"filters": args["filters"]})
        return {"breakpoints": [{"verified": True} for _ in args["filters"]]}

    async def _threads(self, args: Json) -> Json:
        router = self.engine.router
        return dapcore.threads_body(await asyncio.wrap_future(router.call_soon(router.threads)))

    async def _stackTrace(self, args: Json) -> Json:  # noqa: N802
        thread = args.get("threadId", self.stop.thread_id)
        if not self.stop.stopped or thread != self.stop.thread_id:
            return {"stackFrames": [], "totalFrames": 0}  # that render runs: no frames
        owner = self.stop.owner
        chain = await self._chain_with(owner)
        stopped = chain[-1] if chain[-1][1] == owner else (self._instance(owner), owner)
        levels = [await self._backend(stopped[0]).stopped_level(self.stop.child_thread_id)]
        callers = [link for link in chain if link is not stopped]
        stacks = await asyncio.gather(
            *(self._backend(inst).caller_level(peer) for inst, peer in callers),
            return_exceptions=True,
        )
        for (inst, peer), level in zip(reversed(callers), reversed(stacks), strict=True):
            if isinstance(level, Exception):
                level = self._backend(inst).level([])
            levels.append(dataclasses.replace(level, owner=peer))
        below = await self._exception_below(stopped[0], levels[0].frames)
        if below is None:
            frames = dapcore.merge_stack(levels, self.ids)
        else:
            text = str(self.stop.body.get("text", ""))
            shows_traceback = dapcore.TRACEBACK_NOTE in text
            frames = dapcore.merge_exception_stack(levels, below, shows_traceback, self.ids)
        return {"stackFrames": frames, "totalFrames": len(frames)}

    async def _exception_below(self, stopped: Any, frames: list[Json]) -> Json | None:
        """At an exception stop: where the exception (and those it chains) went in the
        kernels below (`runtime.exception_stop`, evaluated in the stopped thread)."""
        if self.stop.body.get("reason") != "exception":
            return None
        own = [f for f in frames if not str(f.get("name", "")).startswith(dapcore.CHAINED)]
        current = next((f for f in own if str(f["name"]).endswith("(Current frame)")), None)
        frame = current or (own[0] if own else None)
        if frame is None:
            return None
        try:
            body = await self._child(
                stopped, "evaluate", {"expression": _EXCEPTION_STOP, "frameId": frame["id"]}
            )
            return json.loads(ast.literal_eval(body["result"]))
        except (RuntimeError, KeyError, ValueError, SyntaxError):
            return None  # not one of our runtimes, or no exception there: pydevd's view

    @staticmethod
    def _inspection(frame: tuple[Any, ...]) -> tuple[str, Json] | None:
        """For a frame answered through the call plane: the peer to ask (a kernel, or one
        of its threads) and the request's base."""
        if frame[0] == "caller":
            return frame[1], {"frame": frame[2]}
        if frame[0] == "failed":
            return frame[1], {"failed": frame[2], "frame": frame[3]}
        return None

    async def _scopes(self, args: Json) -> Json:
        key = self.ids.resolve("frame", args["frameId"])
        if key[0] in dapcore.INSPECTED:
            return {"scopes": dapcore.inspected_scopes(self.ids, key)}
        body = await self._child(self._instance(key[1]), "scopes", {"frameId": key[2]})
        return dapcore.renumber_child_body("scopes", body, self.ids, key[1])

    async def _variables(self, args: Json) -> Json:
        key = self.ids.resolve("variables", args["variablesReference"])
        inspection = self._inspection(key[:-1]) if key[0] in dapcore.INSPECTED else None
        if inspection is not None:
            peer, request = inspection
            request.update(op="variables", scope=key[-1])
            return {"variables": await self._inspect(peer, request)}
        body = await self._child(
            self._instance(key[1]), "variables", {**args, "variablesReference": key[2]}
        )
        return dapcore.renumber_child_body("variables", body, self.ids, key[1])

    async def _evaluate(self, args: Json) -> Json:
        if "frameId" not in args:
            owner = self.stop.owner or self._main().instance_id
            body = await self._child(self._instance(owner), "evaluate", args)
            return dapcore.renumber_child_body("evaluate", body, self.ids, owner)
        key = self.ids.resolve("frame", args["frameId"])
        inspection = self._inspection(key)
        if inspection is not None:
            peer, request = inspection
            request.update(op="evaluate", expression=args["expression"])
            return {**await self._inspect(peer, request), "variablesReference": 0}
        body = await self._child(self._instance(key[1]), "evaluate", {**args, "frameId": key[2]})
        return dapcore.renumber_child_body("evaluate", body, self.ids, key[1])

    async def _resume(self, command: str) -> Json:
        if not self.stop.stopped:
            return {"__error__": f"{command}: the program is not stopped"}
        inst = self._instance(self.stop.owner)
        await self._release_callers()
        return await self._child(inst, command, {"threadId": self.stop.child_thread_id})

    async def _release_callers(self) -> None:
        """Callers held in their own debugger while stopped (JS) run on with the program."""
        backends = list(self.backends.values())
        await asyncio.gather(*(b.release() for b in backends), return_exceptions=True)

    async def _continue(self, args: Json) -> Json:
        return await self._resume("continue")

    async def _next(self, args: Json) -> Json:
        return await self._resume("next")

    async def _stepIn(self, args: Json) -> Json:  # noqa: N802
        return await self._resume("stepIn")

    async def _stepOut(self, args: Json) -> Json:  # noqa: N802
        return await self._resume("stepOut")

    async def _pause(self, args: Json) -> Json:
        if self.stop.stopped or not self.engine.router.renders:
            return {}  # already stopped, or nothing runs: nothing to pause
        _, chain = await self._chain(None)
        if chain:
            await self._backend(chain[-1][0]).pause()
        return {}

    async def _source(self, args: Json) -> Json:
        path = (args.get("source") or {}).get("path", "")
        mime = "text/javascript" if path.endswith(".js") else "text/x-python"
        if path in self.sources:
            return {"content": self.sources[path], "mimeType": mime}
        try:
            with open(path, encoding="utf-8") as f:
                return {"content": f.read(), "mimeType": mime}
        except OSError:
            return {"__error__": "source unavailable"}

    async def _inspectVariables(self, args: Json) -> Json:  # noqa: N802
        main = await self.engine.main_kernel()  # JupyterLab asks as soon as it attaches
        body = await self._child(main, "inspectVariables", {})
        return dapcore.renumber_child_body("inspectVariables", body, self.ids, main.instance_id)

    async def _richInspectVariables(self, args: Json) -> Json:  # noqa: N802
        if "frameId" in args and self.stop.stopped:
            key = self.ids.resolve("frame", args["frameId"])
            inspection = self._inspection(key)
            if inspection is not None:
                peer, request = inspection
                request.update(op="evaluate", expression=args["variableName"])
                result = await self._inspect(peer, request)
                return {"data": {"text/plain": result["result"]}, "metadata": {}}
            return await self._child(
                self._instance(key[1]), "richInspectVariables", {**args, "frameId": key[2]}
            )
        return await self._child(await self.engine.main_kernel(), "richInspectVariables", args)

    async def _copyToGlobals(self, args: Json) -> Json:  # noqa: N802
        key = self.ids.resolve("frame", args["srcFrameId"])
        inspection = self._inspection(key)
        if inspection is not None:
            peer, request = inspection
            code = f"globals()[{args['dstVariableName']!r}] = {args['srcVariableName']}"
            await self._inspect(peer, {**request, "op": "exec", "code": code})
            return {}
        return await self._child(
            self._instance(key[1]), "copyToGlobals", {**args, "srcFrameId": key[2]}
        )

    async def _modules(self, args: Json) -> Json:
        return await self._child(await self.engine.main_kernel(), "modules", args)

    async def _disconnect(self, args: Json) -> Json:
        for event in self.stop.resume():
            self._emit(event)
        debugged = [self.backends[i] for i in self.debugging if i in self.backends]
        await asyncio.gather(*(b.stop() for b in debugged), return_exceptions=True)
        self.debugging.clear()
        self.started = False
        return {}

    # -- children ---------------------------------------------------------------------------
    def _on_death(self, inst: Any, message: str) -> None:
        """A child died: if it held the stop, the chain runs on (its caller gets the error);
        the frontend is told, and nothing waits on the dead kernel any more."""
        owner = inst.instance_id
        self.debugging.pop(owner, None)
        self.backends.pop(owner, None)
        self.deferred = [(i, e) for i, e in self.deferred if i is not inst]
        events = self.stop.resume() if self.stop.owner == owner else []
        events.append(
            self.stop.event(
                "output", {"category": "console", "output": f"[metakernel_dbg] {message}\n"}
            )
        )
        for event in events:
            self._emit(event)
        self._show_deferred()

    async def _on_new_instance(self, inst: Any) -> None:
        """A kernel started while the debugger is on gets it before running user code."""
        self._backend(inst)
        if self.started or self.console_debugging:
            await self._debug(inst)

    async def _on_defined(self, inst: Any, fdef: Any) -> None:
        """A kernel on another host has its function's file only from its definition on:
        breakpoints sent there before (a new kernel's, an edited cell's) are sent again."""
        if inst.child.remote is None or inst.instance_id not in self.debugging:
            return
        arguments = self.book.arguments_for(fdef.filename)
        if arguments["breakpoints"]:
            await self.debugging[inst.instance_id]
            body = await self._child(inst, "setBreakpoints", arguments)
            self.book.record_child_reply(inst.instance_id, arguments, body)

    def _backend(self, inst: Any) -> DebugBackend:
        """The child's debug backend (made on first use; its debugger starts in `_debug`)."""
        backend = self.backends.get(inst.instance_id)
        if backend is None:

            async def inspect(request: Json, peer: str | None = None) -> Any:
                return await self._inspect(peer or inst.instance_id, request)

            backend = load_backend(inst.runtime.debug_backend)(inst, self.on_child_event, inspect)
            self.backends[inst.instance_id] = backend
        return backend

    def _debug(self, inst: Any) -> asyncio.Task[None]:
        """Start the debugger in a child once (initialize, attach, breakpoints, filters)."""
        task = self.debugging.get(inst.instance_id)
        if task is None or (task.done() and (task.cancelled() or task.exception())):
            task = asyncio.ensure_future(self._start_debugger(inst))
            self.debugging[inst.instance_id] = task
        return task

    async def _start_debugger(self, inst: Any) -> None:
        """A serve loop that outlives renders started before the debugger: it is started
        again (by the next call) so that it runs under the debugger; stopped before, too,
        so that code the backend runs in the child does not wait behind it."""
        self.engine.restart_serving(inst)
        await self._backend(inst).start(self.book)
        self.engine.restart_serving(inst)

    async def _broadcast(self, command: str, arguments: Json) -> None:
        async def one(inst: Any) -> None:
            await self.debugging[inst.instance_id]
            body = await self._child(inst, command, arguments)
            if command == "setBreakpoints":
                self.book.record_child_reply(inst.instance_id, arguments, body)

        targets = [i for i in self.engine.all_instances() if i.instance_id in self.debugging]
        await asyncio.gather(*(one(i) for i in targets), return_exceptions=True)

    async def _child(self, inst: Any, command: str, arguments: Json) -> Json:
        """A DAP request to one child's own debugger; its body, or raise with its message."""
        return await self._backend(inst).request(command, arguments)

    def on_child_event(self, inst: Any, event: Json) -> None:
        render = self.engine.router.render_of(inst.instance_id)
        thread = render.thread_id if render is not None else dapcore.VIRTUAL_THREAD_ID
        name = event.get("event")
        if name == "stopped":
            self._tell_waiting_callers(inst.instance_id, stepping.on_stop())
        if name in ("continued", "exited", "terminated"):
            self.deferred = [(i, e) for i, e in self.deferred if i is not inst]
        elif name == "stopped" and self.stop.stopped and thread != self.stop.thread_id:
            self.deferred.append((inst, event))  # another render's stop: shown after this one
            return
        for out in dapcore.translate_child_event(inst.instance_id, event, self.stop, thread):
            self._emit(out)
        self._show_deferred()

    def _show_deferred(self) -> None:
        """Once no stop is shown, show the next held one (its kernel is still stopped)."""
        if self.deferred and not self.stop.stopped:
            inst, event = self.deferred.pop(0)
            self.on_child_event(inst, event)

    def _tell_waiting_callers(self, owner: str, action: str) -> None:
        """Every kernel waiting in `call()` on the stopped one drops its pending step
        (sent through the router before the frontend hears of the stop, so before any step
        the user takes from it)."""
        router = self.engine.router

        def send() -> None:
            for _inst, peer in router.chain_of(owner)[1]:
                if peer != owner:
                    router.inspect(peer, {"op": "step", "action": action})

        router.post(send)

    def _emit(self, event: Json) -> None:
        """Publish a debug_event, only while a frontend debug session is on (`jupyter console`
        and jupyter_kernel_test do not expect debug_event when nobody started a debugger);
        the console's listeners get every event either way."""
        if self.started:
            self.emit(event)
        for listener in list(self.stop_listeners):  # console.py hook
            listener(event)

    # -- console hooks (console.py drives the same proxy with its own requests) -------------
    async def start_for_console(self) -> list[str]:
        """Start the children's debuggers without a frontend `initialize` (idempotent);
        kernels started later get theirs too. Returns the failures, as text."""
        self.console_debugging = True
        instances = self.engine.all_instances()
        results = await asyncio.gather(*(self._debug(i) for i in instances), return_exceptions=True)
        return [
            f"{inst.child.label}: {res}"
            for inst, res in zip(instances, results, strict=True)
            if isinstance(res, BaseException)
        ]

    async def push_breakpoints(self, path: str) -> None:
        """Send the book's breakpoints of `path` to every debugged child (after the console
        changed the book with `BreakpointBook.add` / `remove`)."""
        await self._broadcast("setBreakpoints", self.book.arguments_for(path))

    async def mute_children(self, muted: bool) -> None:
        """While muted, the children hold no breakpoints and no exception filters (the
        console aborts a render: it must run to its end without stopping again); unmuting
        sends the book again. The book itself is not changed."""
        for arguments in self.book.replay():
            await self._broadcast(
                "setBreakpoints", {**arguments, "breakpoints": []} if muted else arguments
            )
        filters = [] if muted else self.book.exception_filters
        await self._broadcast("setExceptionBreakpoints", {"filters": filters})

    # -- the call chain -----------------------------------------------------------------------
    async def _chain(self, owner: str | None) -> tuple[Any, list[tuple[Any, str]]]:
        """The render `owner` works for (None: thread 1's) and its live chain, outermost
        first: (instance, the call-plane peer that answers inspections of that level)."""
        router = self.engine.router
        return await asyncio.wrap_future(router.call_soon(lambda: router.chain_of(owner)))

    async def _chain_with(self, owner: str) -> list[tuple[Any, str]]:
        """The live chain down to the stopped `owner`. A linked call reaches its callee
        directly while the caller's notice to the router may still be on its way (another
        socket): a stop can come first, so the router is asked again until it knows."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + _LINK_NOTICE_WAIT
        while True:
            _, chain = await self._chain(owner)
            if owner in [peer for _, peer in chain]:
                return chain
            if loop.time() > deadline:
                return [(self._instance(owner), owner)]  # a kernel outside any render
            await asyncio.sleep(_LINK_NOTICE_POLL)

    async def _inspect(self, peer: str, request: Json) -> Any:
        """Ask a caller blocked in call() (a kernel, or one of its threads) about its frames."""
        router = self.engine.router
        outer = router.call_soon(lambda: router.inspect(peer, request))
        inner = await asyncio.wrap_future(outer)
        return await asyncio.wait_for(asyncio.wrap_future(inner), _INSPECT_TIMEOUT)

    def _instance(self, owner: Any) -> Any:
        for inst in self.engine.all_instances():
            if inst.instance_id == owner:
                return inst
        raise LookupError(f"kernel {owner} is gone")

    def _main(self) -> Any:
        if self.engine.main is None:
            raise LookupError("the main kernel is not running")
        return self.engine.main
