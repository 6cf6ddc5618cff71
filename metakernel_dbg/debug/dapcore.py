"""Sans-IO core of the debug proxy: ids, merged stacks, events, requests, breakpoints.

The meta-kernel shows JupyterLab ONE program with ONE thread (:data:`VIRTUAL_THREAD_ID`) even
though every call level runs in its own child kernel. Everything here is pure data in, data
out (h11 style): no sockets, no asyncio, no kernels, so the whole DAP contract can be tested
with recorded exchanges. The I/O shell decides *where* to send things; this module decides
*what* they look like.

Id keys used by convention (any hashable works with :class:`IdMap`):

- ``("child", owner, child_id)`` -- an id a child debugpy handed out (frame, variables).
- ``("caller", owner, frame_index)`` -- a frame of a waiting caller (call-plane inspection).
- ``("failed", owner, span, n)`` -- a frame of a call that failed, kept by its kernel.
- either of these plus ``"locals" | "globals"`` -- its scope.
- ``(path, line)`` -- a breakpoint (see :class:`BreakpointBook`).
"""

from __future__ import annotations

import itertools
import json
import os
import re
from collections.abc import Hashable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from .cellpath import HASH_SEED, TMP_FILE_SUFFIX, murmur2_x86

VIRTUAL_THREAD_ID = 1
MAX_REQUEST_BYTES = 1 << 20
ID_LIMIT = 2**31  # DAP object references live in the open interval (0, 2**31)

KINDS = ("frame", "variables", "source", "breakpoint")
STOPPED_STATE_KINDS = ("frame", "variables")

# The 22 commands JupyterLab 4.6 sends, plus two generic DAP clients need.
KNOWN_COMMANDS = frozenset(
    "debugInfo initialize attach dumpCell setBreakpoints setExceptionBreakpoints "
    "configurationDone stackTrace scopes variables continue next stepIn stepOut pause "
    "evaluate source inspectVariables richInspectVariables copyToGlobals modules disconnect "
    "threads exceptionInfo".split()
)

Json = dict[str, Any]


# --------------------------------------------------------------------------- ids


class StaleId(LookupError):
    """A frontend sent an id we never issued or that died with the last stopped state."""

    def __init__(self, kind: str, vid: object) -> None:
        super().__init__(kind, vid)
        self.kind, self.vid = kind, vid

    def __str__(self) -> str:
        why = " (ids are valid only while stopped)" if self.kind in STOPPED_STATE_KINDS else ""
        return f"unknown or stale {self.kind} id {self.vid!r}{why}"


def _is_int(value: object) -> bool:
    """JSON ints only: ``bool`` is an ``int`` subclass but never a valid id or line."""
    return isinstance(value, int) and not isinstance(value, bool)


class IdMap:
    """Virtual ids for every kind, from ONE counter so ids never collide across kinds.

    JupyterLab uses frame ids as React keys and children all count from 1, so child ids must
    be renumbered; a number is never handed out twice, even after invalidation, so a late
    request with an old id fails loudly instead of hitting a different object.
    """

    def __init__(self) -> None:
        self._next = 1
        self._by_key: dict[str, dict[Hashable, int]] = {k: {} for k in KINDS}
        self._by_id: dict[str, dict[int, Hashable]] = {k: {} for k in KINDS}

    def _tables(self, kind: str) -> tuple[dict[Hashable, int], dict[int, Hashable]]:
        if kind not in self._by_key:
            raise ValueError(f"unknown id kind {kind!r}; expected one of {KINDS}")
        return self._by_key[kind], self._by_id[kind]

    def virtual(self, kind: str, key: Hashable) -> int:
        """Id for ``key``; the same key gets the same id until it is invalidated."""
        by_key, by_id = self._tables(kind)
        vid = by_key.get(key)
        if vid is None:
            if self._next >= ID_LIMIT:
                raise OverflowError("virtual id space (0, 2**31) exhausted")
            vid, self._next = self._next, self._next + 1
            by_key[key], by_id[vid] = vid, key
        return vid

    def resolve(self, kind: str, vid: object) -> Hashable:
        """Key behind a frontend-supplied id; :class:`StaleId` if unknown, stale or ill-typed."""
        _, by_id = self._tables(kind)
        if not _is_int(vid) or vid not in by_id:
            raise StaleId(kind, vid)
        return by_id[vid]

    def invalidate_stopped_state(self) -> None:
        """Forget frame and variables ids (DAP: valid only while stopped); keep the rest."""
        for kind in STOPPED_STATE_KINDS:
            self._by_key[kind].clear()
            self._by_id[kind].clear()


# --------------------------------------------------------------------------- stacks

_PLUMBING_RE = re.compile(
    r"[/\\](?:site|dist)-packages[/\\]"
    r"(?:ipykernel|IPython|tornado|zmq|jupyter_client|debugpy|metakernel_dbg)(?:[/\\]|$)"
    r"|[/\\](?:site|dist)-packages[/\\]ipykernel_launcher\.py$"
    r"|[/\\]asyncio[/\\]"
    r"|^<frozen [^>]*>$"
    r"|(?:^|[/\\])runpy\.py$"
)
_PACKAGE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__))) + os.sep


def is_plumbing(path: str | None) -> bool:
    """True for frames of the machinery between user functions, which users must not see.

    That is our own package (the call plane, the runtime's ``call()``), the kernel stack
    (ipykernel, IPython, tornado, zmq, debugpy) and the event loop / interpreter start-up.
    A frame without a path is kept: we cannot prove it is ours.
    """
    if not path:
        return False
    return path.startswith(_PACKAGE_DIR) or _PLUMBING_RE.search(path) is not None


@dataclass
class Level:
    """One call level of a render; ``frames`` are innermost first.

    For the ``stopped`` level the frames are the child's raw DAP ``stackFrames``; for a
    waiting caller they are call-plane dicts ``{"name", "file", "line"}``, unless it is
    ``held``: paused in its own debugger (a JS kernel), whose DAP ``stackFrames`` (and ids)
    they then are. ``function`` is the user function the level runs (bookkeeping; frames are
    named by their code names); ``kernelspec`` labels its frames (``[kernelspec pid N]``).
    """

    owner: str
    function: str
    kernelspec: str
    pid: int
    frames: list[Json]
    stopped: bool = False
    held: bool = False
    host: str = ""  # the kernel's host when it is not the meta-kernel's


def merge_stack(levels: list[Level], ids: IdMap) -> list[Json]:
    """One DAP ``stackFrames`` list for the whole chain; ``levels`` innermost first.

    The outermost (last) level is the main kernel and is labelled ``main``. Plumbing frames
    are dropped; no separator frames are inserted (JupyterLab renders them as clickable rows),
    the ``[kernelspec pid N]`` suffix (``[kernelspec pid N on HOST]`` for a kernel on another
    host) marks each hop. ``ids.resolve("frame", id)`` gives
    ``("child", owner, child_frame_id)`` or ``("caller", owner, frame_index)``, where
    ``frame_index`` indexes the caller's frame list as given (before plumbing is dropped).
    """
    if any(level.stopped for level in levels[1:]):
        raise ValueError("only the innermost level (levels[0]) can be stopped in debugpy")
    merged: list[Json] = []
    for depth, level in enumerate(levels):
        label = "main" if depth == len(levels) - 1 else level.kernelspec
        where = f" on {level.host}" if level.host else ""
        suffix = f"  [{label} pid {level.pid}{where}]"
        for index, frame in enumerate(level.frames):
            if level.stopped or level.held:
                path = (frame.get("source") or {}).get("path")
                key: tuple[Any, ...] = ("child", level.owner, frame["id"])
            else:
                path = frame.get("file")
                key = ("caller", level.owner, index)
            if not is_plumbing(path):
                merged.append(_entry(ids, key, f"{frame['name']}{suffix}", frame, path))
    return merged


def _entry(ids: IdMap, key: tuple[Any, ...], name: str, frame: Json, path: str | None) -> Json:
    column = frame.get("column")
    source: Json = {"sourceReference": 0}
    if path:
        source["path"] = path
    return {
        "id": ids.virtual("frame", key),
        "name": name,
        "line": frame["line"],
        "column": column if _is_int(column) and column > 0 else 1,
        "source": source,
    }


CHAINED = "[Chained Exc: "
#: the text of a stop that shows an exception's traceback rather than the current stack
TRACEBACK_NOTE = "full exception trace is shown"


def merge_exception_stack(
    levels: list[Level], below: Json, shows_traceback: bool, ids: IdMap
) -> list[Json]:
    """The merged stack of an exception stop, as debugpy shows it in one process.

    debugpy lists the stopped kernel's frames, then, for each exception the stopped one
    chains (`[Chained Exc: message] name` frames, outermost first), that exception's
    traceback. An exception that crossed kernels went through frames of other kernels
    too; `below` (`runtime.exception_stop`) names them, per kernel: `below` of the
    exception itself (outermost first) and `chain` (`message`, `below`) of each chained
    one. A stop that shows the traceback (user-unhandled: its `text` says
    `TRACEBACK_NOTE`) puts the exception's frames below on top; a stop that shows the
    current stack (raised) goes on into the waiting callers. Each chained exception's
    remote frames follow its own.
    """
    stopped = levels[0]
    own = [f for f in stopped.frames if not str(f.get("name", "")).startswith(CHAINED)]
    chained = [f for f in stopped.frames if str(f.get("name", "")).startswith(CHAINED)]
    top = _remote_entries(below.get("below", []), "", ids)[::-1] if shows_traceback else []
    merged = top + merge_stack([replace(stopped, frames=own), *levels[1:]], ids)
    suffix = f"  [{'main' if len(levels) == 1 else stopped.kernelspec} pid {stopped.pid}]"
    for link in below.get("chain", []):
        label = f"{CHAINED}{link.get('message')}] "
        for frame in chained:
            if str(frame["name"]).startswith(label):
                key = ("child", stopped.owner, frame["id"])
                path = (frame.get("source") or {}).get("path")
                merged.append(_entry(ids, key, f"{frame['name']}{suffix}", frame, path))
        merged += _remote_entries(link.get("below", []), label, ids)
    return merged


def _remote_entries(groups: list[Json], label: str, ids: IdMap) -> list[Json]:
    """Frames of a failed call in another kernel (`errors.remote_frames` groups), by the
    key `("failed", instance, span, n)` through which they are still inspected."""
    out = []
    for group in groups:
        kernel = group.get("kernel") or {}
        suffix = f"  [{kernel.get('spec')} pid {kernel.get('pid')}]"
        for frame in group.get("frames") or []:
            key = ("failed", group.get("instance"), group.get("span"), frame.get("n"))
            name = f"{label}{frame.get('function')}{suffix}"
            out.append(_entry(ids, key, name, frame, frame.get("file")))
    return out


#: frame keys whose scopes the session serves itself, through the call plane: a waiting
#: caller's frame `("caller", owner, index)`, a failed call's `("failed", owner, span, n)`
INSPECTED = ("caller", "failed")


def inspected_scopes(ids: IdMap, frame: tuple[Any, ...]) -> list[Json]:
    """DAP scopes of a frame served through the call plane (`INSPECTED`); each scope's
    variables reference is the frame's key plus the scope's name."""

    def ref(scope: str) -> int:
        return ids.virtual("variables", (*frame, scope))

    return [
        {
            "name": "Locals",
            "variablesReference": ref("locals"),
            "expensive": False,
            "presentationHint": "locals",
        },
        {"name": "Globals", "variablesReference": ref("globals"), "expensive": False},
    ]


RENUMBERED_COMMANDS = frozenset(
    "scopes variables evaluate setExpression setVariable copyToGlobals inspectVariables".split()
)


def renumber_child_body(command: str, body: Any, ids: IdMap, owner: str) -> Any:
    """Copy of a child's reply body with every non-zero ``variablesReference`` made virtual.

    Children collide on every id, and ipykernel's not-stopped VariableExplorer hands out raw
    ``id()`` values (~1.4e14) far outside (0, 2**31); both become ``("child", owner, ref)``.
    Bodies of other commands carry no variables references and are returned unchanged.
    Not-stopped ``inspectVariables`` refs die at the next ``inspectVariables`` (ipykernel
    rebuilds its explorer), so call ``ids.invalidate_stopped_state()`` before renumbering one.
    """
    return _renumber(body, ids, owner) if command in RENUMBERED_COMMANDS else body


def _renumber(value: Any, ids: IdMap, owner: str) -> Any:
    if isinstance(value, list):
        return [_renumber(item, ids, owner) for item in value]
    if not isinstance(value, dict):
        return value
    out = {key: _renumber(item, ids, owner) for key, item in value.items()}
    ref = out.get("variablesReference")
    if _is_int(ref) and ref != 0:
        out["variablesReference"] = ids.virtual("variables", ("child", owner, ref))
    return out


# --------------------------------------------------------------------------- events


@dataclass
class StopState:
    """Which child holds the virtual thread stopped, and the proxy's event ``seq`` counter.

    JupyterLab clears its model only on ``continued`` and keeps frame ids stable otherwise,
    so this object guarantees a ``continued`` before every ``stopped`` (see
    :func:`translate_child_event`) and invalidates stopped-state ids on each transition.
    """

    ids: IdMap
    book: BreakpointBook | None = None
    owner: str | None = None
    child_thread_id: int | None = None
    #: the child's `stopped` body of the current stop (its reason, an exception's text)
    body: Json = field(default_factory=dict)
    #: the DAP thread that is stopped: the render the owner works for (one per render)
    thread_id: int = VIRTUAL_THREAD_ID
    _seq: Iterator[int] = field(default_factory=lambda: itertools.count(1), repr=False)

    @property
    def stopped(self) -> bool:
        return self.owner is not None

    @property
    def stopped_threads(self) -> list[int]:
        """``debugInfo.stoppedThreads``: the stopped render's thread, or nothing."""
        return [self.thread_id] if self.stopped else []

    def event(self, name: str, body: Json | None = None) -> Json:
        """A proxy event stamped with the proxy's own ``seq`` (children's seqs collide)."""
        return {"seq": next(self._seq), "type": "event", "event": name, "body": body or {}}

    def resume(self) -> list[Json]:
        """End the stopped state (continue, child died, disconnect): ``[continued]`` or ``[]``."""
        if not self.stopped:
            return []
        self.owner = self.child_thread_id = None
        self.ids.invalidate_stopped_state()
        body = {"threadId": self.thread_id, "allThreadsContinued": True}
        self.thread_id = VIRTUAL_THREAD_ID
        return [self.event("continued", body)]


# Children's thread/process/module/breakpoint/debugpy* events describe one child's internals,
# which JupyterLab ignores anyway; initialized/terminated are the proxy's own to send.
def translate_child_event(
    owner: str, event: Json, state: StopState, thread_id: int = VIRTUAL_THREAD_ID
) -> list[Json]:
    """Events to publish for one child debug event, in order (often none).

    - ``stopped`` -> on ``thread_id`` (the thread of the render the owner works for) with
      ``allThreadsStopped``; preceded by a synthetic
      ``continued`` if the virtual thread was already stopped; ``hitBreakpointIds`` mapped
      through ``state.book`` (unknown ids dropped).
    - ``continued`` from the stopped child, or ``exited``/``terminated`` of it -> ``continued``;
      from any other child -> nothing (the frontend is still looking at the stopped one).
    - ``output`` -> passed on (telemetry dropped, references renumbered); all else -> nothing.
    """
    name = event.get("event")
    body = event.get("body") or {}
    if name == "stopped":
        out = state.resume()
        state.ids.invalidate_stopped_state()
        state.owner, state.child_thread_id = owner, body.get("threadId")
        state.body = dict(body)
        state.thread_id = thread_id
        new_body = {k: v for k, v in body.items() if k != "hitBreakpointIds"}
        new_body.update(threadId=thread_id, allThreadsStopped=True)
        if state.book is not None:
            hits = [state.book.to_virtual(owner, bp) for bp in body.get("hitBreakpointIds", ())]
            if any(hit is not None for hit in hits):
                new_body["hitBreakpointIds"] = [hit for hit in hits if hit is not None]
        return [*out, state.event("stopped", new_body)]
    if name in ("continued", "exited", "terminated"):
        if owner != state.owner:
            return []
        if name == "continued" and body.get("allThreadsContinued", True) is False:
            if body.get("threadId") != state.child_thread_id:
                return []
        return state.resume()
    if name == "output" and body.get("category") != "telemetry":
        return [state.event("output", _renumber(body, state.ids, owner))]
    return []


# --------------------------------------------------------------------------- requests

# Per command: "name:type" (required) or "name?:type" (optional). ident = a Python identifier.
_ARG_RULES = {
    "dumpCell": "code:str",
    "scopes": "frameId:int",
    "variables": "variablesReference:int start?:int count?:int",
    "evaluate": "expression:str frameId?:int context?:str",
    "continue": "threadId:int",
    "next": "threadId:int",
    "stepIn": "threadId:int",
    "stepOut": "threadId:int",
    "pause": "threadId?:int",  # lenient like ipykernel: one virtual thread, debugpy pauses all
    "stackTrace": "threadId?:int startFrame?:int levels?:int",
    "exceptionInfo": "threadId:int",
    "richInspectVariables": "variableName:str frameId?:int",
    "copyToGlobals": "srcVariableName:ident dstVariableName:ident srcFrameId:int",
    "setExceptionBreakpoints": "filters:list",
    "setBreakpoints": "source:dict breakpoints:list",
    "source": "source?:dict sourceReference?:int",
    "disconnect": "restart?:bool terminateDebuggee?:bool",
}
_CHECKS = {
    "int": (_is_int, "an integer"),
    "str": (lambda v: isinstance(v, str), "a string"),
    "bool": (lambda v: isinstance(v, bool), "a boolean"),
    "list": (lambda v: isinstance(v, list), "a list"),
    "dict": (lambda v: isinstance(v, dict), "an object"),
    "ident": (lambda v: isinstance(v, str) and v.isidentifier(), "a Python identifier"),
}


def _got(value: object) -> str:
    return f"got {type(value).__name__} {json.dumps(value, default=repr)[:60]}"


def validate_request(request: object, max_bytes: int = MAX_REQUEST_BYTES) -> str | None:
    """Why ``request`` cannot be served, or ``None``; checked before anything is forwarded.

    A malformed request must become an error reply, never a crash or a hang in a child.
    """
    if not isinstance(request, dict):
        return f"debug request must be a JSON object, {_got(request)}"
    try:
        size = len(json.dumps(request, ensure_ascii=False).encode())
    except (TypeError, ValueError) as exc:
        return f"debug request is not JSON-serialisable: {exc}"
    if size > max_bytes:
        return f"debug request is {size} bytes, over the {max_bytes}-byte limit"
    if request.get("type", "request") != "request":
        return f"debug request 'type' must be 'request', {_got(request['type'])}"
    if "seq" not in request:
        return "debug request has no 'seq'"
    if not _is_int(request["seq"]) or request["seq"] < 0:
        return f"debug request 'seq' must be a non-negative integer, {_got(request['seq'])}"
    if "command" not in request:
        return "debug request has no 'command'"
    command = request["command"]
    if not isinstance(command, str):
        return f"debug request 'command' must be a string, {_got(command)}"
    if command not in KNOWN_COMMANDS:
        return f"unknown debug command {command!r}"
    if "arguments" in request and not isinstance(request["arguments"], dict):
        return f"{command}: 'arguments' must be an object, {_got(request['arguments'])}"
    args = request.get("arguments", {})
    for rule in _ARG_RULES.get(command, "").split():
        name, kind = rule.split(":")
        optional = name.endswith("?")
        name = name.rstrip("?")
        if name not in args:
            if not optional:
                return f"{command}: missing required argument '{name}'"
            continue
        check, what = _CHECKS[kind]
        if not check(args[name]):
            return f"{command}: argument '{name}' must be {what}, {_got(args[name])}"
    return _validate_special(command, args)


def _validate_special(command: str, args: Json) -> str | None:
    """Nested shapes the flat table cannot express."""
    if command == "setBreakpoints":
        if not isinstance(args["source"].get("path"), str):
            return f"setBreakpoints: 'source.path' must be a string, {_got(args['source'])}"
        for bp in args.get("breakpoints", []):
            line = bp.get("line") if isinstance(bp, dict) else None
            if not (_is_int(line) and line > 0):
                return f"setBreakpoints: each breakpoint needs a positive int 'line', {_got(bp)}"
    elif command == "source":
        source = args.get("source", {})
        if not isinstance(source.get("path"), str) and not _is_int(args.get("sourceReference")):
            return "source: needs 'source.path' (string) or 'sourceReference' (integer)"
    elif command == "setExceptionBreakpoints":
        bad = [f for f in args["filters"] if not isinstance(f, str)]
        if bad:
            return f"setExceptionBreakpoints: filters must be strings, {_got(bad[0])}"
    return None


def response(request: object, body: Json | None = None) -> Json:
    """A successful DAP response to ``request`` (tolerates a request that is not even a dict)."""
    req = request if isinstance(request, dict) else {}
    seq, command = req.get("seq"), req.get("command")
    return {
        "type": "response",
        "request_seq": seq if _is_int(seq) else 0,
        "success": True,
        "command": command if isinstance(command, str) else "",
        "body": body if body is not None else {},
    }


def error_response(request: object, message: str) -> Json:
    """A failed DAP response; JupyterLab shows ``message``."""
    return {**response(request), "success": False, "message": message}


# --------------------------------------------------------------------------- breakpoints


class BreakpointBook:
    """The proxy's record of breakpoints: what the frontend set, replayed into every child.

    Children are spawned mid-session, so the proxy (not any one child) owns the list, and it
    answers ``setBreakpoints`` itself with virtual ids keyed ``(path, line)``. Temporary
    (one-shot, console ``%tbreak``) breakpoints are replayed into children but hidden from
    ``debugInfo``, otherwise JupyterLab would adopt them as permanent ones.
    """

    def __init__(self, ids: IdMap) -> None:
        self.ids = ids
        self._paths: dict[str, dict[int, Json]] = {}  # path -> line -> DAP SourceBreakpoint
        self._temporary: set[int] = set()
        self._child: dict[tuple[str, int], int] = {}  # (owner, child bp id) -> virtual id
        self.exception_filters: list[str] = []

    def set_breakpoints(self, path: str, breakpoints: list[Json]) -> Json:
        """Replace the frontend's breakpoints in ``path``; returns the ``setBreakpoints`` body."""
        kept = {
            line: bp for line, bp in self._paths.get(path, {}).items() if self._is_tmp(path, line)
        }
        reply = []
        for bp in breakpoints:
            line = bp["line"]
            vid = self.ids.virtual("breakpoint", (path, line))
            self._temporary.discard(vid)  # the frontend's claim makes it permanent
            kept[line] = dict(bp)
            reply.append({"verified": True, "line": line, "id": vid, "source": {"path": path}})
        self._store(path, kept)
        return {"breakpoints": reply}

    def add(self, path: str, line: int, *, temporary: bool = False) -> int:
        """Add one breakpoint (console ``%break``/``%tbreak``); returns its virtual id."""
        vid = self.ids.virtual("breakpoint", (path, line))
        lines = self._paths.setdefault(path, {})
        if line not in lines:
            lines[line] = {"line": line}
            if temporary:
                self._temporary.add(vid)
        elif not temporary:
            self._temporary.discard(vid)  # an explicit permanent one wins
        return vid

    def is_temporary(self, vid: int) -> bool:
        """Whether a hit on ``vid`` should remove it (then re-send its path to children)."""
        return vid in self._temporary

    def remove(self, vid: int) -> str:
        """Remove breakpoint ``vid``; returns its path so the caller can re-send that path."""
        path, line = self.ids.resolve("breakpoint", vid)  # type: ignore[misc]
        lines = self._paths.get(path, {})
        if line not in lines:
            raise StaleId("breakpoint", vid)
        del lines[line]
        self._temporary.discard(vid)
        self._store(path, lines)
        return path

    def clear(self) -> None:
        """Forget everything (``disconnect``: a new session starts from nothing)."""
        self._paths.clear()
        self._temporary.clear()
        self._child.clear()
        self.exception_filters = []

    def set_exception_filters(self, filters: list[str]) -> None:
        """Record ``setExceptionBreakpoints`` filters for replay into new children."""
        self.exception_filters = list(filters)

    def arguments_for(self, path: str) -> Json:
        """``setBreakpoints`` arguments that bring a child up to date for ``path``."""
        bps = [dict(bp) for _, bp in sorted(self._paths.get(path, {}).items())]
        return {"source": {"path": path}, "breakpoints": bps, "sourceModified": False}

    def replay(self) -> list[Json]:
        """``setBreakpoints`` arguments for a fresh child, one per path (temporaries included)."""
        return [self.arguments_for(path) for path in sorted(self._paths)]

    def debug_info(self) -> list[Json]:
        """``debugInfo.breakpoints``: ``[{"source": path, "breakpoints": [{"line": n}]}]``."""
        out = []
        for path in sorted(self._paths):
            lines = [{"line": ln} for ln in sorted(self._paths[path]) if not self._is_tmp(path, ln)]
            if lines:
                out.append({"source": path, "breakpoints": lines})
        return out

    def record_child_reply(self, owner: str, arguments: Json, body: Json) -> None:
        """Learn a child's breakpoint ids from its reply to ``setBreakpoints(arguments)``.

        DAP replies list breakpoints in request order, so pairs are matched by position
        (debugpy may move a line, so matching by line would miss).
        """
        path = arguments["source"]["path"]
        sent_bps, got_bps = arguments.get("breakpoints", []), body.get("breakpoints", [])
        for sent, got in zip(sent_bps, got_bps, strict=False):
            if _is_int(got.get("id")):
                self._child[(owner, got["id"])] = self.ids.virtual(
                    "breakpoint", (path, sent["line"])
                )

    def to_virtual(self, owner: str, child_id: object) -> int | None:
        """Virtual id for a child's ``hitBreakpointIds`` entry, or None if unknown."""
        return self._child.get((owner, child_id)) if _is_int(child_id) else None

    def _is_tmp(self, path: str, line: int) -> bool:
        return self.ids.virtual("breakpoint", (path, line)) in self._temporary

    def _store(self, path: str, lines: dict[int, Json]) -> None:
        if lines:
            self._paths[path] = lines
        else:
            self._paths.pop(path, None)


# --------------------------------------------------------------------------- cells, info


def cell_path(prefix: str, code: str) -> str:
    """The path JupyterLab and every child compute for a cell: prefix + murmur2 + ``.py``."""
    if not prefix.endswith(("/", os.sep)):
        raise ValueError(f"tmpFilePrefix must end with a path separator, got {prefix!r}")
    return f"{prefix}{murmur2_x86(code)}{TMP_FILE_SUFFIX}"


def debug_info_body(
    prefix: str, started: bool, stop_state: StopState, book: BreakpointBook
) -> Json:
    """The proxy's own ``debugInfo`` body (reference §3); answered locally, even pre-start."""
    return {
        "isStarted": started,
        "hashMethod": "Murmur2",
        "hashSeed": HASH_SEED,
        "tmpFilePrefix": prefix,
        "tmpFileSuffix": TMP_FILE_SUFFIX,
        "breakpoints": book.debug_info(),
        "stoppedThreads": stop_state.stopped_threads,
        "richRendering": True,
        "exceptionPaths": ["Python Exceptions"],
        "copyToGlobals": True,
    }


def threads_body(renders: Sequence[tuple[int, str]] = ()) -> Json:
    """``threads`` reply: one thread per live render, given as (thread id, outermost
    function); thread 1 is always there (DAP requires at least one)."""
    threads = {VIRTUAL_THREAD_ID: "MainThread"}
    for thread_id, function in sorted(renders):
        if thread_id != VIRTUAL_THREAD_ID:
            threads[thread_id] = f"render {thread_id}" + (f" ({function})" if function else "")
    return {"threads": [{"id": tid, "name": name} for tid, name in threads.items()]}


# Verbatim from debugpy/adapter/clients.py (initialize_request).
_EXCEPTION_FILTERS = [
    {
        "filter": "raised",
        "label": "Raised Exceptions",
        "default": False,
        "description": "Break whenever any exception is raised.",
    },
    {
        "filter": "uncaught",
        "label": "Uncaught Exceptions",
        "default": True,
        "description": "Break when the process is exiting due to unhandled exception.",
    },
    {
        "filter": "userUnhandled",
        "label": "User Uncaught Exceptions",
        "default": False,
        "description": "Break when exception escapes into library code.",
    },
]


def initialize_body() -> Json:
    """Capabilities for ``initialize``: debugpy 1.8.22's set, minus what the proxy can't route.

    Turned off: requests outside :data:`KNOWN_COMMANDS` (completions, setVariable,
    setExpression, terminate, function breakpoints, debugger properties, goto/stepIn targets,
    restartFrame), exception options (not replayed into children), terminateDebuggee (children
    are never killed by a disconnect) and delayed stack loading (the merged stack is small).
    """
    return {
        "supportsCompletionsRequest": False,
        "supportsConditionalBreakpoints": True,
        "supportsConfigurationDoneRequest": True,
        "supportsDebuggerProperties": False,
        "supportsDelayedStackTraceLoading": False,
        "supportsEvaluateForHovers": True,
        "supportsExceptionInfoRequest": True,
        "supportsExceptionOptions": False,
        "supportsFunctionBreakpoints": False,
        "supportsHitConditionalBreakpoints": True,
        "supportsLogPoints": True,
        "supportsModulesRequest": True,
        "supportsSetExpression": False,
        "supportsSetVariable": False,
        "supportsValueFormattingOptions": True,
        "supportsTerminateDebuggee": False,
        "supportsTerminateRequest": False,
        "supportsGotoTargetsRequest": False,
        "supportsClipboardContext": True,
        "supportsStepInTargetsRequest": False,
        "supportsRestartFrame": False,
        "exceptionBreakpointFilters": [dict(f) for f in _EXCEPTION_FILTERS],
    }


def jupyterlab_initialize(kernel_name: str) -> Json:
    """The arguments JupyterLab 4.6 sends with `initialize` (adapterID: the kernel's name);
    used to start children's debuggers the way JupyterLab would, and by tests and bench."""
    return {
        "clientID": "jupyterlab",
        "clientName": "JupyterLab",
        "adapterID": kernel_name,
        "pathFormat": "path",
        "linesStartAt1": True,
        "columnsStartAt1": True,
        "supportsVariableType": True,
        "supportsVariablePaging": True,
        "supportsRunInTerminalRequest": True,
        "locale": "en",
    }
