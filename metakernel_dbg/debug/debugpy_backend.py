"""The debugpy backend: a Python child's own debugger, reached through ipykernel.

ipykernel (and xeus-python) speak the Jupyter debug protocol themselves: DAP requests go
as `debug_request` on the child's control channel, events come back as `debug_event` on
its IOPub. So this backend forwards DAP almost unchanged; it only finds the thread that
runs user code, and recovers from ipykernel's debugpy port race.
"""

from __future__ import annotations

import asyncio
import itertools
from typing import Any

from . import dapcore
from .backend import DebugBackend, EventHandler, Inspect, Json

_TIMEOUT = 30.0
_RESET_TIMEOUT = 5.0  # an idle child runs the reset at once; a serving one cannot
_FORGET_DEBUGPY_PORT = "get_ipython().kernel.debugger.debugpy_client.debugpy_port = -1"
_seq = itertools.count(1)


class DebugpyBackend(DebugBackend):
    def __init__(self, instance: Any, on_event: EventHandler, inspect: Inspect) -> None:
        super().__init__(instance, on_event, inspect)
        #: DAP id of the thread that runs user code (cells, served calls)
        self.main_thread: int | None = None
        instance.child.on_debug_event = self._on_child_event

    async def start(self, book: dapcore.BreakpointBook) -> None:
        initialize = dapcore.jupyterlab_initialize("python")
        try:
            await self.request("initialize", initialize)
        except RuntimeError:
            # ipykernel picks debugpy's port by binding a random one and releasing it; any
            # process can take it before debugpy listens there. Forget the port, once.
            child = self.instance.child
            reset = child.execute(_FORGET_DEBUGPY_PORT)
            await asyncio.wait_for(reset, _RESET_TIMEOUT)
            await self.request("initialize", initialize)
        await self.request("attach", {})
        threads = (await self.request("threads", {})).get("threads", [])
        self.main_thread = next((t["id"] for t in threads if t.get("name") == "MainThread"), 1)
        for arguments in book.replay():
            body = await self.request("setBreakpoints", arguments)
            book.record_child_reply(self.instance.instance_id, arguments, body)
        if book.exception_filters:
            await self.request("setExceptionBreakpoints", {"filters": book.exception_filters})

    async def request(self, command: str, arguments: Json) -> Json:
        request = {"type": "request", "seq": next(_seq), "command": command, "arguments": arguments}
        child = self.instance.child
        try:
            reply = await asyncio.wait_for(
                child.request("debug_request", request, channel="control"), _TIMEOUT
            )
        except TimeoutError:
            late = f"{child.label} did not answer {command} in {_TIMEOUT:g} s"
            raise RuntimeError(late) from None
        content = reply["content"]
        if content.get("success") is False:
            raise RuntimeError(content.get("message") or f"{child.label} refused {command}")
        return content.get("body", {})

    async def pause(self) -> None:
        await self.request("pause", {"threadId": self.main_thread or 1})

    async def stop(self) -> None:
        await self.request("disconnect", {"restart": False, "terminateDebuggee": False})

    def _on_child_event(self, child: Any, event: Json) -> None:
        body = event.get("body") or {}
        if event.get("event") == "stopped" and body.get("threadId") not in (
            None,
            self.main_thread,
        ):
            return  # a `pause` suspends every thread; only the one running user code counts
        self.on_event(self.instance, event)
