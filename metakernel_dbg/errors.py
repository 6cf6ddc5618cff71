"""Exceptions a `call(...)` can raise at the call site, in every child kernel.

The router reports failures as plain data (`kind`, `message`, `error`); `from_reply` turns
that data into the matching exception so that user code can catch them like local errors.
Standard library only: imported inside child kernels.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


class MetaKernelError(Exception):
    """Base class of every error raised by metakernel_dbg."""


class RemoteError(MetaKernelError):
    """A called function raised; carries the remote error (type, message, frames).

    A caller catches it by the callee's own exception type as well: what `call()` raises is
    an instance of a class derived from both RemoteError and that type (see `rebuild`), with
    the original `args` and message, `__cause__` and `__context__`. `remote_type` is the
    original type's name, `frames` its frames (innermost last), `span_id` the failing
    call's span, which links the error into the render's trace.
    """

    def __init__(
        self,
        function: str,
        kernel: dict[str, Any],
        error: dict[str, Any],
        span_id: str,
        origin: dict[str, Any] | None = None,
    ) -> None:
        super().__init__()
        self._remote(function, kernel, error, span_id, origin)
        self.args = (self.describe(),)

    def _remote(
        self,
        function: str,
        kernel: dict[str, Any],
        error: dict[str, Any],
        span_id: str,
        origin: dict[str, Any] | None,
    ) -> None:
        self.function = function
        self.kernel = kernel
        self.error = error
        self.span_id = span_id
        #: where the error was first raised (function, kernel, type, message) when it came
        #: through several hops; equal to this hop otherwise.
        self.origin = origin or {"function": function, "kernel": kernel, **error}

    @property
    def remote_type(self) -> str:
        return str(self.origin.get("type", "Exception"))

    @property
    def remote_message(self) -> str:
        return str(self.origin.get("message", ""))

    @property
    def frames(self) -> list[dict[str, Any]]:
        return list(self.error.get("frames", []))

    def describe(self) -> str:
        """`function [spec pid N] raised Type: message`, for the origin of the error."""
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
        return rebuild(
            reply.get("error", {}),
            reply.get("function", "?"),
            reply.get("kernel", {}),
            reply.get("span", ""),
            reply.get("origin"),
        )
    exc = _KINDS.get(kind, MetaKernelError)(reply.get("message", kind))
    exc.span_id = reply.get("span", "")  # type: ignore[attr-defined]
    return exc


class RenderQueueFullError(MetaKernelError):
    """Too many renders at once: every render slot is taken and the waiting queue is full."""


# -- exceptions across kernels --------------------------------------------------------------
#: how deep `__cause__` / `__context__` chains are carried
_CHAIN_DEPTH = 8
_CLASS = "__mkdbg_class__"  # on a rebuilt class: the original class as data
_BELOW = "__mkdbg_below__"  # on a rebuilt exception: its frames in the kernels below


def describe_exception(
    exc: BaseException, frames_of: Callable[[BaseException], list[Any]], depth: int = 0
) -> dict[str, Any]:
    """What a caller needs to rebuild `exc`: its class (module, qualname and bases), its
    `args` (None when they cannot travel), its cause and context (each with its frames,
    `frames_of(linked)`), and the frames it went through in the kernels below (`below`)."""
    from .callplane import values

    try:
        args: Any = values.to_wire(list(exc.args), "args")
    except CallArgumentError:
        args = None
    data: dict[str, Any] = {
        "class": getattr(type(exc), _CLASS, None) or _class_data(type(exc)),
        "args": args,
        "suppress_context": exc.__suppress_context__,
        "below": remote_frames(exc),
    }
    if depth < _CHAIN_DEPTH:
        for key, linked in (("cause", exc.__cause__), ("context", exc.__context__)):
            if linked is not None:
                data[key] = {"type": type(linked).__name__, "message": _message(linked)}
                data[key]["frames"] = frames_of(linked)
                data[key].update(describe_exception(linked, frames_of, depth + 1))
    return data


def remote_frames(exc: BaseException) -> list[dict[str, Any]]:
    """The frames a rebuilt exception went through in the kernels below this one, outermost
    first, one group per kernel: `{"instance", "span", "kernel", "frames"}` (empty for an
    exception raised here). The debugger shows them as one traceback with this kernel's."""
    return list(getattr(exc, _BELOW, ()))


def _message(exc: BaseException) -> str:
    try:
        return str(exc)
    except Exception:  # noqa: BLE001 - a broken __str__ must not break the report
        return f"<unprintable {type(exc).__name__}>"


def _class_data(cls: type) -> dict[str, Any]:
    bases = [[b.__module__, b.__qualname__] for b in cls.__mro__[1:] if b is not object]
    return {"module": cls.__module__, "qualname": cls.__qualname__, "bases": bases}


def rebuild(
    error: dict[str, Any],
    function: str,
    kernel: dict[str, Any],
    span_id: str,
    origin: dict[str, Any] | None = None,
) -> RemoteError:
    """The exception a caller sees: of a class derived from RemoteError and the callee's
    exception type (the type itself when importable here; else a class of the same name
    and module derived from its first importable base), with its args, cause and context.
    A description without a class (an older or foreign runtime) gives a plain RemoteError."""
    from .callplane import values

    info = error.get("class")
    if not isinstance(info, dict):
        return RemoteError(function, kernel, error, span_id, origin)
    cls = remote_class(info)
    args = error.get("args")
    args = tuple(values.decode(values.dumps(args))) if isinstance(args, list) else None
    args = args if args is not None else (error.get("message", ""),)
    exc = cls.__new__(cls, *args)
    try:  # the original class's own initialiser (OSError sets errno from its args)
        super(RemoteError, exc).__init__(*args)
    except Exception:  # noqa: BLE001 - one that wants other arguments: args are set below
        pass
    exc.args = args
    exc._remote(function, kernel, error, span_id, origin)
    instance = error.get("instance")
    here = {"instance": instance, "span": span_id, "kernel": kernel, "frames": error.get("frames")}
    setattr(exc, _BELOW, [here, *error.get("below", [])])
    for key, attr in (("cause", "__cause__"), ("context", "__context__")):
        linked = error.get(key)
        if isinstance(linked, dict):
            linked = {"instance": instance, **linked}
            setattr(exc, attr, rebuild(linked, function, kernel, span_id, linked))
    exc.__suppress_context__ = bool(error.get("suppress_context"))
    return exc


_REMOTE_CLASSES: dict[tuple[str, str], type[RemoteError]] = {}


def remote_class(info: dict[str, Any]) -> type[RemoteError]:
    """The rebuilt class of a remote exception class (one per class: `except` can name it)."""
    module, qualname = str(info.get("module")), str(info.get("qualname"))
    key = (module, qualname)
    cls = _REMOTE_CLASSES.get(key)
    if cls is None:
        original = _importable(module, qualname)
        if original is not None:
            base, name = original, original.__name__
        else:
            bases = [_importable(str(m), str(q)) for m, q in info.get("bases", [])]
            base = next((b for b in bases if b is not None), Exception)
            name = qualname.rsplit(".", 1)[-1]
        namespace = {"__module__": module, "__qualname__": qualname, _CLASS: dict(info)}
        try:
            cls = type(name, (RemoteError, base), namespace)
        except TypeError:  # a base that cannot be combined (layout conflict, final class)
            cls = type(name, (RemoteError,), namespace)
        _REMOTE_CLASSES[key] = cls
    return cls


def _importable(module: str, qualname: str) -> type[BaseException] | None:
    """The exception class `module.qualname` if this process can import it (never __main__:
    each kernel has its own)."""
    import importlib
    import sys

    if module == "__main__" or "<" in qualname:
        return None
    try:
        found: Any = sys.modules.get(module) or importlib.import_module(module)
        for part in qualname.split("."):
            found = getattr(found, part)
    except Exception:  # noqa: BLE001 - not importable here
        return None
    if isinstance(found, type) and issubclass(found, BaseException) and found is not RemoteError:
        return found
    return None
