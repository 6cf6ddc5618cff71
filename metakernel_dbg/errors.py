"""Exceptions a `call(...)` can raise at the call site, in every child kernel.

The router reports failures as plain data (`kind`, `message`, `error`); `from_reply` turns
that data into the matching exception so that user code can catch them like local errors.
Standard library only: imported inside child kernels.
"""

from __future__ import annotations

from typing import Any


class MetaKernelError(Exception):
    """Base class of every error raised by metakernel_dbg."""


class RemoteError(MetaKernelError):
    """A called function raised; carries the remote error (type, message, frames).

    `remote_type` is the original exception's type name, `frames` its frames (innermost
    last), `span_id` the failing call's span, which links the error into the render's trace.
    """

    def __init__(
        self,
        function: str,
        kernel: dict[str, Any],
        error: dict[str, Any],
        span_id: str,
        origin: dict[str, Any] | None = None,
    ) -> None:
        self.function = function
        self.kernel = kernel
        self.error = error
        self.span_id = span_id
        #: where the error was first raised (function, kernel, type, message) when it came
        #: through several hops; equal to this hop otherwise.
        self.origin = origin or {"function": function, "kernel": kernel, **error}
        super().__init__(self._describe())

    @property
    def remote_type(self) -> str:
        return str(self.origin.get("type", "Exception"))

    @property
    def remote_message(self) -> str:
        return str(self.origin.get("message", ""))

    @property
    def frames(self) -> list[dict[str, Any]]:
        return list(self.error.get("frames", []))

    def _describe(self) -> str:
        o = self.origin
        k = o.get("kernel", {})
        where = f"{o.get('function')} [{k.get('spec')} pid {k.get('pid')}]"
        return f"{where} raised {self.remote_type}: {self.remote_message}"


class UnknownFunctionError(MetaKernelError, LookupError):
    """`call()` named a function that is not defined."""


class CallArgumentError(MetaKernelError, TypeError):
    """Arguments or result are not JSON values, or are larger than the configured limit."""


class CallDepthError(MetaKernelError, RecursionError):
    """The call stack grew past the depth limit (runaway recursion across kernels)."""


class CallBudgetError(MetaKernelError):
    """The render made more calls than its budget allows."""


class KernelDiedError(MetaKernelError):
    """The kernel serving a call died (signal or exit code) before answering."""


class KernelStartError(MetaKernelError):
    """A child kernel could not be started (bad or missing kernelspec, crash at start)."""


class CallTimeoutError(MetaKernelError, TimeoutError):
    """A call or the whole render ran past its timeout."""


class CallAborted(MetaKernelError):
    """The render was aborted (console `quit`, interrupt or shutdown)."""


_KINDS: dict[str, type[MetaKernelError]] = {
    "unknown_function": UnknownFunctionError,
    "argument": CallArgumentError,
    "depth": CallDepthError,
    "budget": CallBudgetError,
    "died": KernelDiedError,
    "start": KernelStartError,
    "timeout": CallTimeoutError,
    "aborted": CallAborted,
}


def from_reply(reply: dict[str, Any]) -> MetaKernelError:
    """Build the exception described by a router `error` reply."""
    kind = reply.get("kind", "remote")
    if kind == "remote":
        return RemoteError(
            reply.get("function", "?"),
            reply.get("kernel", {}),
            reply.get("error", {}),
            reply.get("span", ""),
            reply.get("origin"),
        )
    exc = _KINDS.get(kind, MetaKernelError)(reply.get("message", kind))
    exc.span_id = reply.get("span", "")  # type: ignore[attr-defined]
    return exc


class RenderQueueFullError(MetaKernelError):
    """Too many renders at once: every render slot is taken and the waiting queue is full."""
