"""Scripted renders: `Session` and `AsyncSession`, the Python API over the shared engine.

A session has no main kernel: its top-level calls come from the engine itself. A failing
call raises `RenderError`, whose `.trace` is the whole cross-kernel story of the render.
Calls may run at once (threads on a `Session`, tasks on an `AsyncSession`): each is a
render of its own. `render()` returns an `Outcome` instead of raising (the batch command
and the farm use it); `otlp=URL` exports every render's spans to an OTLP/HTTP endpoint.
"""

from __future__ import annotations

import asyncio
import os
import sys
from dataclasses import dataclass
from typing import Any, TextIO

from .debug.cellpath import cell_path
from .engine.engine import Engine, EngineConfig
from .engine.functions import DefinitionError, FunctionDef, check_source, load_directory
from .errors import CallArgumentError, MetaKernelError, RemoteError
from .launch.children import _HOST
from .trace import Trace

__all__ = ["Session", "AsyncSession", "RenderError", "Outcome"]


class RenderError(Exception):
    """A render failed; `.trace` has `to_dict()`, `to_json()` and `to_text()`."""

    def __init__(self, trace: Trace, cause: BaseException) -> None:
        super().__init__(cause.describe() if isinstance(cause, RemoteError) else str(cause))
        self.trace = trace
        self.cause = cause


@dataclass
class Outcome:
    """What one render gave: its `value`, or its `error` (with the trace); its trace id."""

    trace_id: str
    value: Any = None
    error: RenderError | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


_ROOT_KERNEL = {"spec": "session", "kernel_id": "", "pid": os.getpid(), "host": _HOST}


class _Streams:
    """Where the output of the called functions goes: the script's own stdout/stderr."""

    def __init__(self, stdout: TextIO | None, stderr: TextIO | None) -> None:
        self.stdout, self.stderr = stdout, stderr

    def publish(self, msg_type: str, content: dict[str, Any]) -> None:
        if msg_type == "stream":
            stream = self.stderr if content.get("name") == "stderr" else self.stdout
            if stream is not None:
                stream.write(content.get("text", ""))
                stream.flush()


class _Core:
    """The coroutines both session flavours run on the engine loop."""

    def __init__(
        self,
        config: EngineConfig,
        stdout: TextIO | None,
        stderr: TextIO | None,
        otlp: str | None = None,
    ):
        self.engine = Engine(_Streams(stdout, stderr), config)
        self.exporter = None
        if otlp:
            from .trace.otlp import OtlpExporter

            self.exporter = OtlpExporter(otlp)

    def close(self) -> None:
        self.engine.close()
        if self.exporter is not None:
            self.exporter.close()  # sends what is still queued

    async def define(self, name: str, source: str, kernel: str) -> None:
        try:
            check_source(name, source, f"definition of {name}", kernel)
        except DefinitionError as exc:
            raise ValueError(str(exc)) from None
        filename = cell_path(self.engine.cell_dir, source)
        await self.engine.define(FunctionDef(name, kernel, source, filename))

    async def load_directory(self, directory: str) -> list[str]:
        try:
            fdefs = load_directory(directory)
        except DefinitionError as exc:
            raise ValueError(str(exc)) from None
        return await self.load_functions(fdefs)

    async def load_functions(self, fdefs: list[FunctionDef]) -> list[str]:
        await self.engine.define_many(fdefs)
        return [f.name for f in fdefs]

    async def render(self, name: str, args: list[Any], kwargs: dict[str, Any]) -> Outcome:
        """One top-level call as a render of its own. Raises only what is no render failure:
        bad arguments (CallArgumentError), a full queue (RenderQueueFullError)."""
        engine = self.engine
        key = await engine.begin_render("<session>", _ROOT_KERNEL)
        try:
            failure: MetaKernelError | None = None
            try:
                value = await engine.call(key, name, args, kwargs)
            except CallArgumentError:
                raise  # bad arguments to the top-level call: a usage error, nothing ran
            except MetaKernelError as exc:
                value, failure = None, exc
            render = await engine.end_render(key)
        finally:
            await engine.end_render(key)  # nothing left to do unless cancelled or raised
        assert render is not None
        if failure is None:
            outcome = Outcome(render.trace_id, value)
            trace = render.trace() if self.exporter is not None else None
        else:
            trace = await engine.failure_trace(render, failure)
            outcome = Outcome(render.trace_id, error=RenderError(trace, failure))
        if self.exporter is not None and trace is not None:
            self.exporter.export(trace)
        return outcome

    async def call(self, name: str, args: list[Any], kwargs: dict[str, Any]) -> Any:
        outcome = await self.render(name, args, kwargs)
        if outcome.error is not None:
            raise outcome.error
        return outcome.value


#: unattended renders must end: timeouts are on by default in sessions (off in the kernel)
SESSION_TIMEOUTS = {"call_timeout": 60.0, "render_timeout": 300.0}


def _config(kw: dict[str, Any]) -> EngineConfig:
    return EngineConfig(main_kernel=None, **{**SESSION_TIMEOUTS, **kw})


class Session:
    """Blocking API: `with Session() as s: s.load_directory(DIR); s.call(NAME, *args)`.

    Settings are EngineConfig's (`call_timeout`, `pool_size`, `max_renders`, ...);
    `otlp="http://HOST:4318"` exports each render's spans (needs the `[otel]` extra).
    """

    def __init__(
        self,
        *,
        stdout: TextIO | None = sys.stdout,
        stderr: TextIO | None = sys.stderr,
        otlp: str | None = None,
        **config: Any,
    ) -> None:
        self._core = _Core(_config(config), stdout, stderr, otlp)

    def __enter__(self) -> Session:
        self._core.engine.start().result()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _run(self, coro: Any) -> Any:
        return self._core.engine.submit(coro).result()

    def define(self, name: str, source: str, kernel: str = "python3") -> None:
        """Define (or replace) function NAME from SOURCE, in a kernel of spec KERNEL."""
        self._run(self._core.define(name, source, kernel))

    def load_directory(self, directory: str) -> list[str]:
        """Load a function directory; returns the function names."""
        return self._run(self._core.load_directory(directory))

    def load_functions(self, fdefs: list[FunctionDef]) -> list[str]:
        """Define functions read elsewhere (`engine.functions.load_directory`, e.g. on the
        machine that sent them to a farm worker); returns their names."""
        return self._run(self._core.load_functions(fdefs))

    def call(self, name: str, *args: Any, **kwargs: Any) -> Any:
        """Call NAME as a top-level render; raises RenderError with the trace on failure."""
        return self._run(self._core.call(name, list(args), kwargs))

    def render(self, name: str, *args: Any, **kwargs: Any) -> Outcome:
        """Call NAME as a top-level render; its Outcome, failed or not."""
        return self._run(self._core.render(name, list(args), kwargs))

    @property
    def last_trace(self) -> Trace | None:
        return self._core.engine.router.last_failure

    def close(self) -> None:
        self._core.close()


class AsyncSession:
    """asyncio twin of Session: `async with AsyncSession() as s: await s.call(...)`."""

    def __init__(
        self,
        *,
        stdout: TextIO | None = sys.stdout,
        stderr: TextIO | None = sys.stderr,
        otlp: str | None = None,
        **config: Any,
    ) -> None:
        self._core = _Core(_config(config), stdout, stderr, otlp)

    async def __aenter__(self) -> AsyncSession:
        await asyncio.wrap_future(self._core.engine.start())
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def define(self, name: str, source: str, kernel: str = "python3") -> None:
        await self._core.engine.run(self._core.define(name, source, kernel))

    async def load_directory(self, directory: str) -> list[str]:
        return await self._core.engine.run(self._core.load_directory(directory))

    async def call(self, name: str, *args: Any, **kwargs: Any) -> Any:
        return await self._core.engine.run(self._core.call(name, list(args), kwargs))

    async def render(self, name: str, *args: Any, **kwargs: Any) -> Outcome:
        return await self._core.engine.run(self._core.render(name, list(args), kwargs))

    @property
    def last_trace(self) -> Trace | None:
        return self._core.engine.router.last_failure

    async def close(self) -> None:
        await asyncio.to_thread(self._core.close)
