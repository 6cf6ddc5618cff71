"""Scripted renders: `Session` and `AsyncSession`, the Python API over the shared engine.

A session has no main kernel: its top-level calls come from the engine itself. A failing
call raises `RenderError`, whose `.trace` is the whole cross-kernel story of the render.
"""

from __future__ import annotations

import asyncio
import os
import sys
from typing import Any, TextIO

from .debug.cellpath import cell_path
from .engine.engine import Engine, EngineConfig
from .engine.functions import DefinitionError, FunctionDef, check_source, load_directory
from .errors import CallArgumentError, MetaKernelError
from .launch.children import _HOST
from .trace import Trace

__all__ = ["Session", "AsyncSession", "RenderError"]


class RenderError(Exception):
    """A render failed; `.trace` has `to_dict()`, `to_json()` and `to_text()`."""

    def __init__(self, trace: Trace, cause: BaseException) -> None:
        super().__init__(str(cause))
        self.trace = trace
        self.cause = cause


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

    def __init__(self, config: EngineConfig, stdout: TextIO | None, stderr: TextIO | None):
        self.engine = Engine(_Streams(stdout, stderr), config)

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
        await self.engine.define_many(fdefs)
        return [f.name for f in fdefs]

    async def call(self, name: str, args: list[Any], kwargs: dict[str, Any]) -> Any:
        engine = self.engine
        root = {"spec": "session", "kernel_id": "", "pid": os.getpid(), "host": _HOST}
        key = await engine.begin_render("<session>", root)
        try:
            return await engine.call(key, name, args, kwargs)
        except CallArgumentError:
            raise  # bad arguments to the top-level call: a usage error, nothing ran
        except MetaKernelError as exc:
            render = await engine.end_render(key)
            assert render is not None
            raise RenderError(await engine.failure_trace(render, exc), exc) from None
        finally:
            await engine.end_render(key)


#: unattended renders must end: timeouts are on by default in sessions (off in the kernel)
SESSION_TIMEOUTS = {"call_timeout": 60.0, "render_timeout": 300.0}


def _config(kw: dict[str, Any]) -> EngineConfig:
    return EngineConfig(main_kernel=None, **{**SESSION_TIMEOUTS, **kw})


class Session:
    """Blocking API: `with Session() as s: s.load_directory(DIR); s.call(NAME, *args)`."""

    def __init__(
        self,
        *,
        stdout: TextIO | None = sys.stdout,
        stderr: TextIO | None = sys.stderr,
        **config: Any,
    ) -> None:
        self._core = _Core(_config(config), stdout, stderr)

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

    def call(self, name: str, *args: Any, **kwargs: Any) -> Any:
        """Call NAME as a top-level render; raises RenderError with the trace on failure."""
        return self._run(self._core.call(name, list(args), kwargs))

    @property
    def last_trace(self) -> Trace | None:
        return self._core.engine.router.last_failure

    def close(self) -> None:
        self._core.engine.close()


class AsyncSession:
    """asyncio twin of Session: `async with AsyncSession() as s: await s.call(...)`."""

    def __init__(
        self,
        *,
        stdout: TextIO | None = sys.stdout,
        stderr: TextIO | None = sys.stderr,
        **config: Any,
    ) -> None:
        self._core = _Core(_config(config), stdout, stderr)

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

    @property
    def last_trace(self) -> Trace | None:
        return self._core.engine.router.last_failure

    async def close(self) -> None:
        await asyncio.to_thread(self._core.engine.close)
