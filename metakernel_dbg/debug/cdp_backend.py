"""The CDP backend: a JavaScript child's own debugger, V8's inspector, over a websocket.

tslab's kernel speaks no Jupyter debug protocol, so this backend speaks CDP to V8 itself.
The inspector opens inside the child only when debugging starts (`start`: the runtime
opens it on loopback, asked over the call plane, which the child answers whether it is
idle, serving or waiting in `call()`) and closes on `stop` (DAP `disconnect`). What each
CDP pause means, and how DAP maps to CDP, is decided in `cdpcore.py`; this module moves
the messages: a reader task answers requests, an event task handles pauses in order.

A JS caller blocked in `call()` while the stop is elsewhere is *held*: paused through
CDP (V8 wakes its Atomics.wait) so that its frames, variables and evaluate come from V8;
it is released (resumed) before the program runs on (`release`).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
from typing import Any

import websockets

from . import cdpcore, dapcore
from .backend import DebugBackend, EventHandler, Inspect, Json

_TIMEOUT = 30.0
_HOLD_TIMEOUT = 5.0


class CDPError(RuntimeError):
    """V8 refused a command (or the connection is gone)."""


class CdpBackend(DebugBackend):
    label = "js"

    def __init__(self, instance: Any, on_event: EventHandler, inspect: Inspect) -> None:
        super().__init__(instance, on_event, inspect)
        self.rules = cdpcore.PauseRules([])
        self._ws: Any = None
        self._ids = itertools.count(1)
        self._waiters: dict[int, asyncio.Future[Json]] = {}
        self._events: asyncio.Queue[tuple[str, Json]] = asyncio.Queue()
        self._tasks: list[asyncio.Task[None]] = []
        #: the pause V8 is in (shown as the stop, or held for inspection), or None
        self._current: Json | None = None
        self._shown = False
        self._hold: asyncio.Future[None] | None = None
        self._refs: dict[int, list[str]] = {}
        self._breakpoints: dict[str, list[str]] = {}  # path -> CDP breakpoint ids
        self._bp_numbers = itertools.count(1)

    # -- lifecycle ----------------------------------------------------------------------
    async def start(self, book: dapcore.BreakpointBook) -> None:
        info = await self.inspect({"op": "debug_open"})
        self.rules = cdpcore.PauseRules(info["blackbox"])
        self._ws = await websockets.connect(info["url"], max_size=None, ping_interval=None)
        self._tasks = [
            asyncio.ensure_future(self._read()),
            asyncio.ensure_future(self._handle_events()),
        ]
        await self.cdp("Runtime.enable")
        await self.cdp("Debugger.enable")
        await self.cdp("Debugger.setBlackboxPatterns", {"patterns": info["blackbox"]})
        for arguments in book.replay():
            body = await self.request("setBreakpoints", arguments)
            book.record_child_reply(self.instance.instance_id, arguments, body)
        if book.exception_filters:
            await self.request("setExceptionBreakpoints", {"filters": book.exception_filters})

    async def stop(self) -> None:
        if self._ws is None:
            return
        with contextlib.suppress(CDPError, TimeoutError):
            if self._current is not None:
                await self.cdp("Debugger.resume")
        # the runtime closes the inspector (and this websocket); a child that is gone or
        # busy in user code cannot: the connection is closed from this side as well
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.inspect({"op": "debug_close"}), _TIMEOUT)
        await self._ws.close()
        for task in self._tasks:
            task.cancel()
        self._ws, self._current, self._shown = None, None, False
        self._breakpoints.clear()  # they went with the inspector's session

    # -- CDP ------------------------------------------------------------------------------
    async def cdp(self, method: str, params: Json | None = None) -> Json:
        """One CDP command; its result (CDPError if refused or the connection is gone)."""
        if self._ws is None:
            raise CDPError(f"{self.instance.child.label}: the debugger is not started")
        msg_id = next(self._ids)
        fut: asyncio.Future[Json] = asyncio.get_running_loop().create_future()
        self._waiters[msg_id] = fut
        try:
            command = {"id": msg_id, "method": method, "params": params or {}}
            await self._ws.send(json.dumps(command))
            reply = await asyncio.wait_for(fut, _TIMEOUT)
        except websockets.ConnectionClosed:
            raise CDPError(f"{self.instance.child.label}: the debugger connection closed") from None
        finally:
            self._waiters.pop(msg_id, None)
        if "error" in reply:
            raise CDPError(f"{method}: {reply['error'].get('message', reply['error'])}")
        return reply.get("result", {})

    async def _read(self) -> None:
        """Replies resolve their commands; events are handled in order by `_handle_events`."""
        try:
            async for raw in self._ws:
                msg = json.loads(raw)
                if "id" in msg:
                    fut = self._waiters.get(msg["id"])
                    if fut is not None and not fut.done():
                        fut.set_result(msg)
                elif msg.get("method") == "Debugger.scriptParsed":
                    params = msg["params"]
                    self.rules.scripts[params["scriptId"]] = params.get("url", "")
                else:
                    self._events.put_nowait((msg.get("method", ""), msg.get("params", {})))
        except websockets.ConnectionClosed:
            pass
        finally:
            for fut in self._waiters.values():
                if not fut.done():
                    fut.set_exception(CDPError("the debugger connection closed"))
            self._events.put_nowait(("Debugger.resumed", {}))

    async def _handle_events(self) -> None:
        while True:
            method, params = await self._events.get()
            try:
                if method == "Debugger.paused":
                    await self._on_paused(params)
                elif method == "Debugger.resumed":
                    self._on_resumed()
            except CDPError as exc:
                output = {"category": "console", "output": f"[metakernel_dbg] {exc}\n"}
                self.on_event(self.instance, {"event": "output", "body": output})

    async def _on_paused(self, params: Json) -> None:
        action = self.rules.decide(params)
        if action.kind in ("show", "hold"):
            self._current, self._refs = params, {}
            if action.kind == "show":
                self._shown = True
                self.on_event(self.instance, {"event": "stopped", "body": action.body})
            elif self._hold is not None and not self._hold.done():
                self._hold.set_result(None)
        elif action.kind == "probe":
            frame_id = params["callFrames"][0]["callFrameId"]
            await self.cdp(
                "Debugger.evaluateOnCallFrame",
                {"callFrameId": frame_id, "expression": action.expression},
            )
            await self.cdp("Debugger.resume")
        else:
            await self.cdp(action.kind)
        if action.pause_again:
            await self.cdp("Debugger.pause")

    def _on_resumed(self) -> None:
        shown, self._current, self._shown = self._shown, None, False
        if shown:
            body = {"threadId": cdpcore.THREAD_ID, "allThreadsContinued": True}
            self.on_event(self.instance, {"event": "continued", "body": body})

    # -- the seam -------------------------------------------------------------------------
    async def pause(self) -> None:
        self.rules.pausing = True
        await self.cdp("Debugger.pause")

    async def caller_level(self, peer: str | None = None) -> dapcore.Level:
        """Hold the waiting caller (a CDP pause) and give its frames; its runtime's own
        answer (frames without variables) if V8 does not pause in time."""
        if self._current is None and self._ws is not None:
            self._hold = asyncio.get_running_loop().create_future()
            self.rules.holding = True
            try:
                await self.cdp("Debugger.pause")
                await asyncio.wait_for(self._hold, _HOLD_TIMEOUT)
            except (CDPError, TimeoutError):
                self.rules.holding = False
        if self._current is None:
            return await super().caller_level(peer)
        return self.level(cdpcore.stack_frames(self.rules, self._current), held=True)

    async def release(self) -> None:
        if self._current is not None and not self._shown:
            await self.cdp("Debugger.resume")

    async def request(self, command: str, arguments: Json) -> Json:
        handler = getattr(self, f"_{command}", None)
        if handler is None:
            raise RuntimeError(f"{command} is not supported in JavaScript kernels")
        return await handler(arguments)

    def _paused(self) -> Json:
        if self._current is None:
            raise RuntimeError(f"{self.instance.child.label} is not paused")
        return self._current

    def _new_ref(self, object_ids: list[str]) -> int:
        ref = len(self._refs) + 1
        self._refs[ref] = object_ids
        return ref

    # -- DAP requests ---------------------------------------------------------------------
    async def _setBreakpoints(self, args: Json) -> Json:  # noqa: N802 - DAP command names
        path = args["source"]["path"]
        for old in self._breakpoints.pop(path, []):
            with contextlib.suppress(CDPError):
                await self.cdp("Debugger.removeBreakpoint", {"breakpointId": old})
        ids, out = [], []
        for bp in args.get("breakpoints", []):
            params = {"url": cdpcore.breakpoint_url(path), "lineNumber": bp["line"] - 1}
            if bp.get("condition"):
                params["condition"] = bp["condition"]
            result = await self.cdp("Debugger.setBreakpointByUrl", params)
            number = next(self._bp_numbers)
            self.rules.breakpoint_ids[result["breakpointId"]] = number
            ids.append(result["breakpointId"])
            out.append({"id": number, "verified": bool(result["locations"]), "line": bp["line"]})
        self._breakpoints[path] = ids
        return {"breakpoints": out}

    async def _setExceptionBreakpoints(self, args: Json) -> Json:  # noqa: N802
        state, uncaught = cdpcore.exception_settings(args.get("filters", []))
        flag = f"globalThis.__mkdbg.debug.state.uncaught = {json.dumps(uncaught)}"
        await self.cdp("Runtime.evaluate", {"expression": flag})
        await self.cdp("Debugger.setPauseOnExceptions", {"state": state})
        return {}

    async def _stackTrace(self, args: Json) -> Json:  # noqa: N802
        frames = cdpcore.stack_frames(self.rules, self._paused())
        return {"stackFrames": frames, "totalFrames": len(frames)}

    def _frame(self, frame_id: Any) -> Json:
        frames = self._paused()["callFrames"]
        if not isinstance(frame_id, int) or not 0 <= frame_id < len(frames):
            raise RuntimeError(f"no frame {frame_id!r}")
        return frames[frame_id]

    async def _scopes(self, args: Json) -> Json:
        return {"scopes": cdpcore.scopes(self._frame(args["frameId"]), self._new_ref)}

    async def _variables(self, args: Json) -> Json:
        object_ids = self._refs.get(args["variablesReference"])
        if object_ids is None:
            raise RuntimeError(f"unknown variablesReference {args['variablesReference']}")
        properties = []
        for object_id in object_ids:
            result = await self.cdp(
                "Runtime.getProperties",
                {"objectId": object_id, "ownProperties": True, "generatePreview": True},
            )
            internal = result.get("internalProperties", [])
            entries = [p for p in internal if p["name"] == "[[Entries]]"]  # of a Map or Set
            properties.append(result["result"] + entries)
        return {"variables": cdpcore.variables(properties, self._new_ref)}

    async def _evaluate(self, args: Json) -> Json:
        result = await self._eval(args["expression"], args.get("frameId"))
        return {
            "result": cdpcore.describe(result),
            "type": cdpcore.type_name(result),
            "variablesReference": self._new_ref([result["objectId"]])
            if result.get("objectId") and self._current is not None
            else 0,
        }

    async def _eval(self, expression: str, frame_id: Any) -> Json:
        params = {"expression": expression, "generatePreview": True}
        if frame_id is not None:
            params["callFrameId"] = self._frame(frame_id)["callFrameId"]
            reply = await self.cdp("Debugger.evaluateOnCallFrame", params)
        else:
            reply = await self.cdp("Runtime.evaluate", params)
        details = reply.get("exceptionDetails")
        if details:
            error = details.get("exception") or {}
            raise RuntimeError(error.get("description") or details.get("text", "error"))
        return reply["result"]

    async def _richInspectVariables(self, args: Json) -> Json:  # noqa: N802
        result = await self._eval(args["variableName"], args.get("frameId"))
        return {"data": {"text/plain": cdpcore.describe(result)}, "metadata": {}}

    async def _continue(self, args: Json) -> Json:
        await self.cdp("Debugger.resume")
        return {"allThreadsContinued": True}

    async def _step(self, command: str) -> Json:
        await self.cdp(self.rules.step_command(command, self._paused()))
        return {}

    async def _next(self, args: Json) -> Json:
        return await self._step("next")

    async def _stepIn(self, args: Json) -> Json:  # noqa: N802
        return await self._step("stepIn")

    async def _stepOut(self, args: Json) -> Json:  # noqa: N802
        return await self._step("stepOut")

    async def _pause(self, args: Json) -> Json:
        await self.pause()
        return {}
