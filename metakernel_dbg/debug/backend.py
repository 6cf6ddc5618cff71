"""The debug-backend seam: one child kernel's own debugger, as the debug session drives it.

The debug session speaks DAP to the frontend and to every backend; a backend turns DAP into
its child's debugger protocol (debugpy over `debug_request`, the V8 inspector over CDP ...)
and turns the child's events back into DAP events. Lifecycle, per child:

1. created when the frontend (or the console) starts debugging, for every child kernel,
   including the ones started later (`ChildRuntime.debug_backend` names the class);
2. `start(book)`: the child's debugger starts and receives the session's breakpoints and
   exception filters; from then on `request()` may be called;
3. events come back through the `on_event` callback given at creation: `stopped` (for the
   thread that runs user code only), `continued`, `output`;
4. while the child is stopped: `stopped_level(thread)` gives its frames as a merge-core
   `Level`; `request()` serves scopes, variables, evaluate ... by the child's own ids, and
   carries out the step commands (`continue`, `next`, `stepIn`, `stepOut`); the rules that
   make steps cross kernels run inside the child (its runtime's hooks);
5. while the child waits in `call()` and the stop is elsewhere: `caller_level()` gives its
   frames (by default its runtime answers through the call plane, `inspect`; a backend may
   instead *hold* the child in its own debugger, whose ids `request()` then serves), and
   `release()` lets a held child run on before the program resumes;
6. `pause()` while it runs user code; `stop()` on `disconnect`.
"""

from __future__ import annotations

import importlib
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable
from typing import Any

from . import dapcore

Json = dict[str, Any]
EventHandler = Callable[[Any, Json], None]
#: asks the child's runtime through the call plane (an `inspect` request); its result
Inspect = Callable[..., Awaitable[Any]]


class DebugBackend(ABC):
    """One child's debugger (see the module docstring). `instance` is the engine's Instance."""

    #: how merged stacks name this child's frames (`[label pid N]`); None: its kernelspec
    label: str | None = None

    def __init__(self, instance: Any, on_event: EventHandler, inspect: Inspect) -> None:
        self.instance = instance
        self.on_event = on_event
        self.inspect = inspect

    @abstractmethod
    async def start(self, book: dapcore.BreakpointBook) -> None:
        """Start the child's debugger with the session's breakpoints and filters."""

    @abstractmethod
    async def request(self, command: str, arguments: Json) -> Json:
        """A DAP request to the child's debugger; its reply body (RuntimeError if refused)."""

    @abstractmethod
    async def pause(self) -> None:
        """Suspend the thread that runs user code."""

    async def stopped_level(self, thread: int | None) -> dapcore.Level:
        """The stopped child's frames, innermost first, as the merge core takes them."""
        body = await self.request("stackTrace", {"threadId": thread})
        return self.level(body.get("stackFrames", []), stopped=True)

    async def caller_level(self, peer: str | None = None) -> dapcore.Level:
        """The frames of the child while it waits in `call()`, innermost first (`peer`: one
        of its threads, waiting over its own connection)."""
        return self.level(await self.inspect({"op": "stack"}, peer))

    async def release(self) -> None:  # noqa: B027 - optional: only holding backends hold
        """Let a child held by `caller_level` run on (the program resumes)."""

    def level(self, frames: list[Json], stopped: bool = False, held: bool = False) -> dapcore.Level:
        child = self.instance.child
        function = self.instance.function or "<module>"
        host = child.remote.name if child.remote else ""
        return dapcore.Level(
            self.instance.instance_id,
            function,
            self.label or child.spec,
            child.pid or 0,
            frames,
            stopped,
            held,
            host,
        )

    @abstractmethod
    async def stop(self) -> None:
        """End debugging in this child (`disconnect`)."""


def load_backend(path: str) -> type[DebugBackend]:
    """The backend class named `module:Class` (as `ChildRuntime.debug_backend` names it)."""
    module, _, name = path.partition(":")
    return getattr(importlib.import_module(module), name)
