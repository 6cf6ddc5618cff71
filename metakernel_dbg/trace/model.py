"""Post-mortem trace of a failed render, modelled on W3C trace context / OpenTelemetry.

A render fans out into nested function calls, each running in its own child kernel.
Each invocation is one :class:`Span`; when something fails, the spans form a chain
(root -> ... -> origin) linked by ``ErrorInfo.propagated_from`` and the trace can be
rendered as one Python-style traceback spanning all kernels.

Pure logic and standard library only: this module is also imported inside child
kernels (by :func:`capture_error`), so it must stay cheap to import.
"""

from __future__ import annotations

import dataclasses
import json
import linecache
import reprlib
import secrets
import signal
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

MAX_LOCALS = 30
_WIDTH = 60
_CYAN, _RED, _BOLD, _RESET = "\x1b[36m", "\x1b[31m", "\x1b[1m", "\x1b[0m"


@dataclass
class KernelInfo:
    """Which child kernel ran a span, so a reader can tell kernel hops apart."""

    spec: str
    kernel_id: str
    pid: int | None
    host: str


@dataclass
class Frame:
    """One Python frame; ``locals`` are bounded reprs so traces stay small and safe."""

    file: str
    line: int
    function: str
    source: str
    locals: dict[str, str] = field(default_factory=dict)


@dataclass
class ErrorInfo:
    """An exception as seen by one span (``frames`` innermost last).

    On the origin span ``propagated_from`` is None. On an ancestor, ``frames`` are only
    that ancestor's own frames (down to its ``call(...)`` line) and ``propagated_from``
    is the child span_id: frames are never copied between spans.
    """

    type: str
    message: str
    frames: list[Frame] = field(default_factory=list)
    propagated_from: str | None = None


@dataclass
class ExitInfo:
    """Why a child kernel died mid-call, plus its last output for context."""

    signal: int | None
    exit_code: int | None
    last_output: str = ""


@dataclass
class Span:
    """One function invocation in one kernel; ``call_site`` is the call line in the parent."""

    span_id: str
    parent_span_id: str | None
    function: str
    kernel: KernelInfo
    args: Any
    kwargs: Any
    start_ns: int
    end_ns: int | None = None
    status: Literal["ok", "error"] = "ok"
    stdout: str = ""
    stderr: str = ""
    call_site: dict[str, Any] | None = None
    error: ErrorInfo | None = None
    exit: ExitInfo | None = None
    timed_out: bool = False


@dataclass
class StackEntry:
    """One frame of the merged cross-kernel stack, tagged with the span/kernel it ran in."""

    span_id: str
    function: str
    kernel: KernelInfo
    frame: Frame


# --------------------------------------------------------------------------- helpers


def new_trace_id() -> str:
    """32 lowercase hex chars, never all zero (W3C trace-id)."""
    while (tid := secrets.token_hex(16)) == "0" * 32:
        pass
    return tid


def new_span_id() -> str:
    """16 lowercase hex chars, never all zero (W3C parent-id)."""
    while (sid := secrets.token_hex(8)) == "0" * 16:
        pass
    return sid


def cap_text(s: str, limit: int = 8192) -> str:
    """Keep at most ``limit`` chars of ``s``, appending a marker saying how much was cut."""
    if len(s) <= limit:
        return s
    return f"{s[:limit]}\n… [truncated {len(s) - limit} chars]"


def cap_json(value: Any, limit: int = 4096) -> Any:
    """``value`` unchanged, or a ``$truncated`` marker if its JSON exceeds ``limit`` bytes."""
    try:
        encoded = json.dumps(value, default=safe_repr, ensure_ascii=False)
    except (TypeError, ValueError):  # e.g. circular references: can never be sent as-is
        encoded = json.dumps(safe_repr(value, max_len=limit), ensure_ascii=False)
        limit = -1
    size = len(encoded.encode("utf-8"))
    if size <= limit:
        return value
    return truncated(size, encoded[:200])


def truncated(size: int, preview: str) -> dict[str, Any]:
    """The marker that stands for a value too large to keep (see the trace schema)."""
    return {"$truncated": True, "size": size, "preview": preview}


def _type_name(obj: Any) -> str:
    return type(obj).__qualname__


class _SafeRepr(reprlib.Repr):
    """reprlib with a repr for leaf objects that reports failures instead of hiding them."""

    def repr_instance(self, x: Any, level: int) -> str:
        try:
            s = repr(x)
        except Exception as e:
            return f"<unrepresentable {_type_name(x)}: {_exc_repr(e)}>"
        return s if len(s) <= self.maxother else s[: self.maxother - 1] + "…"


def _exc_repr(e: BaseException) -> str:
    try:
        return repr(e)
    except Exception:
        return f"{_type_name(e)}(?)"


def safe_repr(obj: Any, max_len: int = 200, max_depth: int = 3, max_items: int = 20) -> str:
    """Bounded repr that never raises: limited depth, items per container and length."""
    r = _SafeRepr()
    r.maxlevel = max_depth
    for attr in ("maxtuple", "maxlist", "maxarray", "maxdict", "maxset", "maxfrozenset"):
        setattr(r, attr, max_items)
    r.maxdeque = max_items
    r.maxstring = r.maxlong = r.maxother = max_len
    try:
        s = r.repr(obj)
    except Exception as e:  # reprlib itself tripped over a pathological object
        s = f"<unrepresentable {_type_name(obj)}: {_exc_repr(e)}>"
    return s if len(s) <= max_len else s[: max_len - 1] + "…"


def _exc_type_name(exc: BaseException) -> str:
    t = type(exc)
    mod = getattr(t, "__module__", "builtins")
    return t.__qualname__ if mod in ("builtins", "__main__") else f"{mod}.{t.__qualname__}"


def capture_error(exc: BaseException, skip=None) -> ErrorInfo:
    """Turn a live exception into an :class:`ErrorInfo` (frames innermost last).

    ``skip(filename) -> bool`` drops plumbing frames (e.g. the package's own runtime).
    """
    frames: list[Frame] = []
    tb = exc.__traceback__
    while tb is not None:
        f = tb.tb_frame
        filename = f.f_code.co_filename
        lineno = tb.tb_lineno or f.f_lineno or 0
        if not (skip and skip(filename)):
            try:
                items = list(f.f_locals.items())
            except Exception:
                items = []
            local_reprs: dict[str, str] = {}
            for name, val in items:
                if name.startswith("__"):
                    continue
                if len(local_reprs) >= MAX_LOCALS:
                    break
                local_reprs[name] = safe_repr(val)
            source = linecache.getline(filename, lineno, f.f_globals).strip()
            frames.append(Frame(filename, lineno, f.f_code.co_name, source, local_reprs))
        tb = tb.tb_next
    try:
        message = str(exc)
    except Exception as e:
        message = f"<unprintable message: {_exc_repr(e)}>"
    return ErrorInfo(_exc_type_name(exc), message, frames)


def load_schema() -> dict:
    """The JSON Schema (draft 2020-12) describing :meth:`Trace.to_dict` output."""
    from importlib import resources

    text = resources.files("metakernel_dbg.trace").joinpath("schema.json")
    return json.loads(text.read_text(encoding="utf-8"))


# --------------------------------------------------------------------------- trace


def _signal_name(num: int) -> str:
    try:
        return signal.Signals(num).name
    except ValueError:
        return "unknown signal"


def _death(exit: ExitInfo) -> str:
    if exit.signal is not None:
        return f"was killed by signal {exit.signal} ({_signal_name(exit.signal)})"
    if exit.exit_code is not None:
        return f"exited with code {exit.exit_code}"
    return "died"


def _label(span: Span, main: bool = False) -> str:
    pid = span.kernel.pid if span.kernel.pid is not None else "?"
    return f"{span.function}{' · main' if main else ''} [{span.kernel.spec} pid {pid}]"


@dataclass
class Trace:
    """All spans of one render; the failing chain is followed via ``propagated_from``."""

    trace_id: str
    spans: list[Span] = field(default_factory=list)

    def span(self, span_id: str | None) -> Span | None:
        """The span with this id, or None."""
        return next((s for s in self.spans if s.span_id == span_id), None)

    def chain(self) -> list[Span]:
        """Failing spans from the topmost failure down to the origin (empty if none failed)."""
        failed = [s for s in self.spans if s.status == "error"]
        failed_ids = {s.span_id for s in failed}
        heads = [s for s in failed if s.parent_span_id not in failed_ids]
        heads.sort(key=lambda s: s.parent_span_id is not None)  # prefer the root span
        if not heads:
            return []
        out, seen, cur = [], set(), heads[0]
        while cur is not None and cur.span_id not in seen:
            out.append(cur)
            seen.add(cur.span_id)
            cur = self.span(cur.error.propagated_from) if cur.error else None
        return out

    def stack(self) -> list[StackEntry]:
        """Merged frames of the failing chain, innermost last (root frames first)."""
        return [
            StackEntry(s.span_id, s.function, s.kernel, fr)
            for s in self.chain()
            for fr in (s.error.frames if s.error else [])
        ]

    # ------------------------------------------------------------------ serialisation

    def to_dict(self) -> dict:
        """Plain JSON-able dict, plus a derived ``stack`` (see schema.json)."""
        stack = [
            {
                "span_id": e.span_id,
                "function": e.function,  # user function the span ran
                "kernel": asdict(e.kernel),
                "file": e.frame.file,
                "line": e.frame.line,
                "function_name": e.frame.function,  # code object name of this frame
                "source": e.frame.source,
                "locals": dict(e.frame.locals),
            }
            for e in self.stack()
        ]
        return {"trace_id": self.trace_id, "spans": [asdict(s) for s in self.spans], "stack": stack}

    def to_json(self, indent: int | None = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent, ensure_ascii=False, default=safe_repr)

    @classmethod
    def from_dict(cls, d: dict) -> Trace:
        """Inverse of :meth:`to_dict` (the derived ``stack`` is ignored, and so is what the
        call plane adds to errors for debuggers: a frame's number, the frames below)."""
        fields = {f.name for f in dataclasses.fields(Frame)}

        def error(e: dict | None) -> ErrorInfo | None:
            if e is None:
                return None
            frames = [Frame(**{k: v for k, v in f.items() if k in fields}) for f in e["frames"]]
            return ErrorInfo(e["type"], e["message"], frames, e.get("propagated_from"))

        spans = [
            Span(
                **{k: v for k, v in s.items() if k not in ("kernel", "error", "exit")},
                kernel=KernelInfo(**s["kernel"]),
                error=error(s.get("error")),
                exit=ExitInfo(**s["exit"]) if s.get("exit") else None,
            )
            for s in d.get("spans", [])
        ]
        return cls(d["trace_id"], spans)

    # ------------------------------------------------------------------ text

    def to_text(self, color: bool = False) -> str:
        """Python-style traceback across kernels, innermost last (frames == ``stack()``)."""

        def paint(s: str, code: str) -> str:
            return f"{code}{s}{_RESET}" if color else s

        chain = self.chain()
        if not chain:
            return f"Trace {self.trace_id}: {len(self.spans)} span(s), no failure"
        hosts = {span.kernel.host for span in chain}
        n = len({(span.kernel.host, span.kernel.pid) for span in chain if span.kernel.pid})
        n -= chain[0].kernel.spec == "session"  # a script's process is not a kernel
        lines = [f"Traceback (most recent call last, {n} kernel{'s' * (n != 1)}):"]
        for s in chain:
            title = _label(s, main=s.parent_span_id is None)
            if len(hosts) > 1:  # every kernel's host, once several took part
                title += f" on {s.kernel.host}"
            if s.parent_span_id:
                title += f" span {s.span_id}"
            head = f"── {title} "
            lines.append(paint(head + "─" * max(3, _WIDTH - len(head)), _CYAN))
            for fr in s.error.frames if s.error else []:
                where = f'File "{paint(fr.file, _BOLD)}", line {paint(str(fr.line), _BOLD)}'
                lines.append(f"  {where}, in {fr.function}")
                if fr.source:
                    lines.append(f"    {fr.source}")
                for name, val in fr.locals.items():
                    lines.append(f"      {name} = " + val.replace("\n", "\n" + " " * 8))
        lines += self._final_lines(chain[-1], paint)
        return "\n".join(lines)

    @staticmethod
    def _final_lines(origin: Span, paint) -> list[str]:
        err, ex = origin.error, origin.exit
        if origin.timed_out:
            msg = err.message if err and err.message else ""
            final = f"TimeoutError: {msg or _label(origin) + ' did not return within the timeout'}"
        elif ex is not None:
            final = f"KernelDied: {_label(origin)} {_death(ex)}"
        elif err is not None:
            final = f"{err.type}: {err.message}" if err.message else err.type
        else:
            final = f"Error: {_label(origin)} failed"
        out = [paint(final, _RED)]
        if ex is not None:
            if origin.timed_out:
                out.append(f"  (the kernel then {_death(ex)})")
            if ex.last_output.strip():
                out.append("  last output:")
                out += ["    " + ln for ln in ex.last_output.rstrip("\n").splitlines()]
        return out
