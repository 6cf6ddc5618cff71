"""The part of metakernel_dbg that runs inside every child kernel.

`bootstrap()` connects the child to the meta-kernel's router and installs the `call`
builtin. A function kernel then runs `serve()` (as one long execute_request, across
renders); the main kernel just runs cells. `call()` sends a signed message to
the router and waits in short Python-level slices, so that while it waits it can answer
the router's inspection requests (stack, variables, evaluate: how debuggers and the console
see callers that are blocked) and stays pausable by a debugger.

Standard library, pyzmq and this package only: this is imported in child kernels.
"""

from __future__ import annotations

import builtins
import itertools
import json
import linecache
import os
import signal
import sys
import threading
import time
from dataclasses import asdict
from types import FrameType
from typing import Any

import zmq

import metakernel_dbg

from ...callplane import values
from ...callplane.local import KIND as LOCAL
from ...callplane.local import LocalChildSide
from ...callplane.tcp import KIND as TCP
from ...callplane.tcp import TcpChildSide
from ...callplane.transport import ChildSide, Endpoint, Line, poll_key
from ...callplane.wire import ARGS_PREVIEW, PAYLOAD, Channel, child_key, link_keys
from ...errors import (
    CallArgumentError,
    RemoteError,
    describe_exception,
    from_reply,
    remote_frames,
)
from ...trace import capture_error, new_span_id, safe_repr
from . import PythonRuntime, debughooks

_PACKAGE_DIR = os.path.dirname(os.path.abspath(metakernel_dbg.__file__))
_WAIT_SLICE_MS = 50
_OUT_FLUSH_BYTES = 8192
_KEPT_FAILURES = 16
_HIDDEN_GLOBALS = {"In", "Out", "exit", "quit", "get_ipython", "call", "open"}

_runtime: _Runtime | None = None
#: the child side of each transport, by the endpoint's kind
_CHILD_SIDES: dict[str, type[ChildSide]] = {LOCAL: LocalChildSide, TCP: TcpChildSide}
_HIDDEN_FILES: set[str] = set()


def is_plumbing(filename: str) -> bool:
    """Frames of this package and of the kernel machinery never show in user stacks."""
    return (
        filename in _HIDDEN_FILES
        or not os.path.isabs(filename)  # Cython internals ("zmq/backend/...") and "<string>"
        or filename.startswith(_PACKAGE_DIR)
        or f"{os.sep}site-packages{os.sep}" in filename
        or filename.startswith("<frozen")
        or filename.startswith(os.path.dirname(os.__file__))
    )


def _user_ns() -> dict[str, Any]:
    get_ipython = getattr(builtins, "get_ipython", None)
    shell = get_ipython() if get_ipython else None
    return shell.user_ns if shell is not None else sys.modules["__main__"].__dict__


class _CallStream:
    """Replaces sys.stdout/stderr during a call so output travels with the call messages.

    Sending output over the call plane (instead of each kernel's IOPub) keeps the output
    of all kernels in causal order: it always reaches the router before the return.
    """

    def __init__(self, runtime: _Runtime, name: str, call_id: Any) -> None:
        self._runtime = runtime
        self._name = name
        self._call_id = call_id
        self._parts: list[str] = []
        self._size = 0

    def write(self, text: str) -> int:
        self._parts.append(text)
        self._size += len(text)
        if self._size >= _OUT_FLUSH_BYTES:
            self.flush()
        return len(text)

    def flush(self) -> None:
        if self._parts:
            text = "".join(self._parts)
            self._parts.clear()
            self._size = 0
            self._runtime.send({"k": "out", "id": self._call_id, "name": self._name, "text": text})

    def isatty(self) -> bool:
        return False

    def writable(self) -> bool:
        return True


class _Link:
    """A direct line from this kernel (the caller) to one callee instance.

    The router grants it after routing a call there once; later calls go straight to the
    callee's own listener, one hop each way, and the router only gets notices.
    OSError if the callee is gone.
    """

    __slots__ = ("instance_id", "line", "handle", "channel", "poller")

    def __init__(self, me: str, side: ChildSide, router: zmq.Socket, grant: dict, limit: int):
        self.instance_id = str(grant["to"])
        call_key, back_key = (bytes.fromhex(k) for k in grant["keys"])
        self.channel = Channel(call_key, recv_key=back_key)
        self.line = side.dial(str(grant["addr"]), limit)
        try:
            self.line.send([me.encode()])  # who we are: the callee derives our keys
        except OSError:
            self.line.close()
            raise
        self.handle = self.line.pollable
        self.poller = zmq.Poller()
        self.poller.register(self.handle, zmq.POLLIN)
        self.poller.register(router, zmq.POLLIN)

    def close(self) -> None:
        self.line.close()


class _Caller:
    """The callee's end of one direct line."""

    __slots__ = ("line", "channel")

    def __init__(self, line: Line) -> None:
        self.line = line
        self.channel: Channel | None = None  # known once the caller said who it is


class _Port:
    """One thread's connection to the router (a zmq socket serves one thread at a time)."""

    __slots__ = ("sock", "channel", "poller", "waiting_frames", "dep")

    def __init__(self, sock: zmq.Socket, channel: Channel) -> None:
        self.sock, self.channel = sock, channel
        self.poller = zmq.Poller()
        self.poller.register(sock, zmq.POLLIN)
        #: frames of the callers currently blocked in call(), innermost first, for inspection
        self.waiting_frames: list[FrameType] = []
        #: the router message that must be handled before our next one: [peer, number]
        self.dep: list[Any] | None = None

    def __del__(self) -> None:  # a thread's own port goes with its thread
        self.sock.close(linger=0)


class _Runtime:
    """One child's end of the call plane.

    The kernel's own connection (its instance id) serves the serve loop and the calls of
    whichever thread uses it first; a thread that calls while another uses it gets a
    connection of its own (`ID~N`, keyed from the kernel's key), and the router gives its
    calls a render of their own (`enter` / `leave`). Only the kernel's own connection is
    granted direct lines.
    """

    def __init__(
        self, endpoint: Endpoint, instance_id: str, key: bytes, role: str, max_message: int
    ) -> None:
        self.instance_id = instance_id
        self.key = key
        self.max_message = max_message
        self.role = role
        self.side = _CHILD_SIDES[endpoint["kind"]](endpoint)
        router = self.side.connect_router(zmq.Context.instance(), instance_id.encode())
        self._primary = _Port(router, Channel(key))
        self._primary_lock = threading.Lock()  # held by the thread using the kernel's port
        self._local = threading.local()
        self._thread_numbers = itertools.count(1)
        # direct calls arrive on listeners of our own
        listeners, direct_address = self.side.listen(instance_id)
        self.listeners = {poll_key(listener): listener for listener in listeners}
        self.callers: dict[Any, _Caller] = {}  # by what the poller polls
        self.serve_poller = zmq.Poller()
        self.serve_poller.register(self.sock, zmq.POLLIN)
        for handle in self.listeners:
            self.serve_poller.register(handle, zmq.POLLIN)
        #: direct lines to callees (kept across renders) and, per function, the instances
        #: this kernel may call directly in the current render (granted by the router)
        self.links: dict[str, _Link] = {}
        self.grants: dict[str, list[str]] = {}
        self.max_depth = 0
        #: instances on the call stack down to (and including) this one, outermost first
        self.chain: list[str] = []
        self.send({"k": "hello", "direct": direct_address})  # now the router can route to us
        self.ids = itertools.count(1)
        self.streams: tuple[_CallStream, _CallStream] | None = None
        #: by span: the frames of the last calls that failed here (FrameKeeper), for a
        #: debugger stopped on their exceptions further up
        self.failed: dict[str, list[FrameType]] = {}

    # -- this thread's connection ------------------------------------------------------
    @property
    def port(self) -> _Port:
        return getattr(self._local, "port", None) or self._primary

    sock = property(lambda self: self.port.sock)
    channel = property(lambda self: self.port.channel)
    poller = property(lambda self: self.port.poller)
    waiting_frames = property(lambda self: self.port.waiting_frames)
    dep = property(lambda self: self.port.dep, lambda self, value: setattr(self.port, "dep", value))

    def enter(self, primary: bool = False) -> _Port | None:
        """Pick this thread's port for a call (`primary`: wait for the kernel's own, for a
        serve loop); None when nested in this thread's own call. Give it back with `leave`."""
        if getattr(self._local, "port", None) is not None:
            return None
        if self._primary_lock.acquire(blocking=primary):
            self._local.port = self._primary
        else:
            own = getattr(self._local, "own", None)
            if own is None:
                identity = f"{self.instance_id}~{next(self._thread_numbers)}"
                sock = self.side.connect_router(zmq.Context.instance(), identity.encode())
                own = self._local.own = _Port(sock, Channel(child_key(self.key, identity)))
            self._local.port = own
        return self._local.port

    def leave(self, entered: _Port | None) -> None:
        if entered is not None:
            self._local.port = None
            if entered is self._primary:
                self._primary_lock.release()

    # -- messaging ---------------------------------------------------------------------
    def pack(self, msg: dict[str, Any]) -> list[bytes]:
        """Sign a message for the router (carrying the pending ordering dependency)."""
        if self.dep is not None:
            msg["dep"], self.dep = self.dep, None
        return self.channel.pack(msg)

    def send(self, msg: dict[str, Any]) -> None:
        self.sock.send_multipart(self.pack(msg))

    def recv(self, timeout_ms: int) -> dict[str, Any] | None:
        if not self.sock.poll(timeout_ms):
            return None
        return self.channel.unpack(self.sock.recv_multipart())

    def _check_size(self, payload: bytes, where: str) -> None:
        if len(payload) > self.max_message:
            raise CallArgumentError(
                f"{where}: a message of {len(payload)} bytes is over the call plane's limit "
                f"of {self.max_message} bytes"
            )

    # -- calling -----------------------------------------------------------------------
    def flush_output(self) -> None:
        """Push pending output ahead of a call message so it is shown before the callee's."""
        if self.streams:
            for stream in self.streams:
                stream.flush()
            return
        for name in ("stdout", "stderr"):
            stream = getattr(sys, name)
            take = getattr(stream, "_flush_buffers", None)  # ipykernel's OutStream
            if take is None:
                stream.flush()
                continue
            for _parent, text in take():
                if text:
                    self.send({"k": "out", "id": None, "name": name, "text": text})

    def call(self, name: str, args: tuple, kwargs: dict, site: FrameType) -> Any:
        __tracebackhide__ = True  # noqa: F841 - IPython hides this frame
        if not isinstance(name, str):
            raise TypeError(f"call() needs a function name (str), got {type(name).__name__}")
        where = f"call({name!r})"
        try:
            payload = values.encode_call(args, kwargs, where)
        except CallArgumentError as exc:
            raise CallArgumentError(str(exc)) from None  # raised here, without our frames
        self._check_size(payload, where)
        self.flush_output()
        call_site = {"file": site.f_code.co_filename, "line": site.f_lineno}
        entry = debughooks.take_step_into()
        link = self._link_for(name)
        self.waiting_frames.insert(0, site)
        try:
            reply = None
            if link is not None:
                reply = self._call_direct(link, name, payload, call_site, entry)
            if reply is None:
                reply = self._call_routed(name, payload, call_site, entry)
        finally:
            self.waiting_frames.remove(site)
        debughooks.after_call(reply.get("step"), site)
        if reply["k"] == "return":
            return values.decode(reply[PAYLOAD]) if PAYLOAD in reply else None
        _raise_here(from_reply(reply))

    def _call_routed(
        self, name: str, payload: bytes, site: dict[str, Any], entry: bool
    ) -> dict[str, Any]:
        """Through the router: it picks (or starts) an instance and may grant a link."""
        __tracebackhide__ = True  # noqa: F841 - IPython hides this frame
        call_id = next(self.ids)
        msg = {"k": "call", "id": call_id, "fn": name, PAYLOAD: payload, "site": site}
        msg["entry"] = entry
        self.send(msg)
        reply = self._wait(call_id, None)
        grant = reply.get("grant")
        if reply["k"] == "return" and isinstance(grant, dict):
            self._add_grant(name, grant)
        return reply

    def _call_direct(
        self, link: _Link, name: str, payload: bytes, site: dict[str, Any], entry: bool
    ) -> dict[str, Any] | None:
        """Straight to the callee; the router learns of it from a notice sent alongside.

        The callee's first router message must be handled after that notice (its `dep`),
        so the router's view of the stack stays exact. None: the router redirected us.
        """
        __tracebackhide__ = True  # noqa: F841 - IPython hides this frame
        span = new_span_id()
        msg = {
            "k": "call",
            "id": span,
            "fn": name,
            PAYLOAD: payload,
            "entry": entry,
            "chain": [*self.chain, link.instance_id],
            "dep": [self.instance_id, self.channel.next_number],
        }
        try:
            link.line.send(link.channel.pack(msg))
        except OSError:  # the callee is gone: the router will pick another instance
            self._drop_grant(name, link.instance_id)
            return None
        # built after the call left: the callee is already at work meanwhile
        notice = {"k": "called", "id": span, "to": link.instance_id, "fn": name, "site": site}
        notice.update(entry=entry, size=len(payload), **{PAYLOAD: payload[:ARGS_PREVIEW]})
        self.send(notice)
        reply = self._wait(span, link)
        if reply["k"] == "redirect" or reply.get("kind") in ("died", "timeout"):
            self._drop_grant(name, link.instance_id)
        return None if reply["k"] == "redirect" else reply

    def _link_for(self, name: str) -> _Link | None:
        if len(self.chain) >= self.max_depth or self.port is not self._primary:
            return None  # the router refuses this call (let it say why), or another thread
        for instance_id in self.grants.get(name, ()):
            if instance_id not in self.chain:
                return self.links[instance_id]
        return None

    def _add_grant(self, name: str, grant: dict[str, Any]) -> None:
        instance_id = str(grant.get("to"))
        if instance_id not in self.links:
            try:
                self.links[instance_id] = _Link(
                    self.instance_id, self.side, self.sock, grant, self.max_message
                )
            except OSError:
                return  # the instance is already gone: keep calling through the router
        granted = self.grants.setdefault(name, [])
        if instance_id not in granted:
            granted.append(instance_id)
        self.max_depth = int(grant.get("depth", 0))

    def _drop_grant(self, name: str, instance_id: str) -> None:
        granted = self.grants.get(name, [])
        if instance_id in granted:
            granted.remove(instance_id)
        link = self.links.pop(instance_id, None)
        if link is not None:
            link.close()

    def _wait(self, call_id: Any, link: _Link | None) -> dict[str, Any]:
        """Wait in slices: answer inspections, stay pausable, notice interrupts.

        The reply comes from the router, or for a direct call from the callee's line.
        """
        __tracebackhide__ = True  # noqa: F841 - IPython hides this frame
        poller = self.poller if link is None else link.poller
        try:
            while True:
                events = dict(poller.poll(_WAIT_SLICE_MS))
                if not events:
                    debughooks.check_pause(self.waiting_frames[0])
                    continue
                if self.sock in events:  # first: the router may say a stop dropped our step
                    msg = self.channel.unpack(self.sock.recv_multipart())
                    if msg is not None:
                        kind = msg.get("k")
                        if kind in ("return", "error", "redirect") and msg.get("id") == call_id:
                            return msg
                        self._on_router_message(kind, msg)
                    continue
                while link is not None and (link.handle in events or link.line.buffered):
                    events.pop(link.handle, None)
                    try:
                        msg = link.channel.unpack(link.line.recv())
                    except (EOFError, OSError, ValueError):  # the callee died: the router says so
                        poller, link = self.poller, None
                        break
                    if msg is not None and msg.get("id") == call_id:
                        self.dep = msg.get("dep")
                        return msg  # anything else is the late answer of an abandoned call
        except KeyboardInterrupt:
            self.send({"k": "cancel", "id": call_id})
            raise

    def _on_router_message(self, kind: Any, msg: dict[str, Any]) -> None:
        """What the router may say to a kernel that is not waiting for this message."""
        if kind == "inspect":
            self._answer_inspect(msg)
        elif kind == "revoke":  # the render is ending badly: every call goes via the router
            self.grants.clear()

    # -- serving -----------------------------------------------------------------------
    def serve(self) -> None:
        """Run calls routed to this kernel until the router says stop (a redefinition, a
        debugger starting); at the end of each render the router revokes its links."""
        self.send({"k": "serving"})
        try:
            while True:
                try:
                    events = dict(self.serve_poller.poll(_WAIT_SLICE_MS * 4))
                    for handle in events:
                        if handle in self.listeners:
                            self._accept(self.listeners[handle])
                        elif handle in self.callers:
                            self._serve_direct(self.callers[handle])
                    if self.sock not in events:
                        continue
                    msg = self.channel.unpack(self.sock.recv_multipart())
                    if msg is None:
                        continue
                    kind = msg.get("k")
                    if kind == "stop":
                        return
                    if kind == "call":
                        self.send(self._run_call(msg))
                    else:
                        self._on_router_message(kind, msg)
                except KeyboardInterrupt:  # a second interrupt while reporting: keep serving
                    continue
        finally:
            self.grants.clear()  # grants hold for one render

    def _accept(self, listener: Any) -> None:
        line = self.side.accept(listener, self.max_message)
        self.callers[line.pollable] = _Caller(line)
        self.serve_poller.register(line.pollable, zmq.POLLIN)

    def _drop_caller(self, caller: _Caller) -> None:
        self.serve_poller.unregister(caller.line.pollable)
        del self.callers[caller.line.pollable]
        caller.line.close()

    def _serve_direct(self, caller: _Caller) -> None:
        """Calls that came straight from a caller holding a link to this kernel."""
        while True:
            try:
                frames = caller.line.recv()
            except (EOFError, OSError, ValueError):
                self._drop_caller(caller)
                return
            if caller.channel is None:  # the line's first message: the caller's id
                call_key, back_key = link_keys(self.key, frames[0].decode(errors="replace"))
                caller.channel = Channel(back_key, recv_key=call_key)
            else:
                msg = caller.channel.unpack(frames)  # forged or replayed: None, dropped
                if msg is not None and msg.get("k") == "call":
                    self._run_direct(caller, msg)
            if not caller.line.buffered:
                return

    def _run_direct(self, caller: _Caller, msg: dict[str, Any]) -> None:
        assert caller.channel is not None
        self.dep = msg.get("dep")
        reply = self._run_call(msg)
        if reply["k"] != "return":
            self.send(reply)  # errors go via the router, which builds the merged trace
            return
        reply["dep"] = [self.instance_id, self.channel.next_number]
        try:
            caller.line.send(caller.channel.pack(reply))
        except OSError:  # the caller is gone (interrupted and abandoned us)
            self._drop_caller(caller)
        self.send({"k": "returned", "id": msg["id"]})

    def _run_call(self, msg: dict[str, Any]) -> dict[str, Any]:
        """Run one call; the reply to send (a return with its payload, or an error)."""
        call_id = msg["id"]
        chain = msg.get("chain")
        self.chain = chain if isinstance(chain, list) else [self.instance_id]
        saved = sys.stdout, sys.stderr
        self.streams = (_CallStream(self, "stdout", call_id), _CallStream(self, "stderr", call_id))
        sys.stdout, sys.stderr = self.streams
        reply: dict[str, Any]
        boundary = None
        try:
            fn = _user_ns().get(msg["fn"])
            if not callable(fn):
                raise NameError(f"function {msg['fn']!r} is not defined in this kernel")
            with debughooks.call_boundary(msg.get("entry", False)) as boundary:
                args, kwargs = values.decode(msg[PAYLOAD]) if PAYLOAD in msg else ([], {})
                value = fn(*args, **kwargs)
            payload = values.encode_value(value, f"{msg['fn']}() returned a bad value: result")
            self._check_size(payload, f"{msg['fn']}() returned a bad value")
            reply = {"k": "return", "id": call_id, PAYLOAD: payload}
        except BaseException as exc:  # noqa: BLE001 - every failure goes back to the caller
            reply = self._error_reply(call_id, exc, msg.get("span", call_id))
        finally:
            for stream in self.streams:
                stream.flush()
            sys.stdout, sys.stderr = saved
            self.streams = None
        if boundary is not None and boundary.step is not None:
            reply["step"] = boundary.step  # what the caller's debugger does next
        return reply

    def _error_reply(self, call_id: Any, exc: BaseException, span: Any = None) -> dict[str, Any]:
        keeper = FrameKeeper()
        error = describe_error(exc, keeper)
        error["instance"] = self.instance_id
        if span is not None:  # the failed call's frames stay inspectable for this render
            self.failed[str(span)] = keeper.frames
            while len(self.failed) > _KEPT_FAILURES:
                del self.failed[next(iter(self.failed))]
        reply: dict[str, Any] = {"k": "error", "id": call_id, "error": error}
        if isinstance(exc, RemoteError):
            error["type"], error["message"] = exc.remote_type, exc.remote_message
        if getattr(exc, "span_id", None):  # failed in a callee: link to its span
            reply["propagated_from"] = exc.span_id
        return reply

    # -- inspection of blocked callers -------------------------------------------------
    def user_frames(self) -> list[FrameType]:
        """The user frames of the code blocked in call(), innermost first."""
        frames: list[FrameType] = []
        if self.waiting_frames:
            frame: FrameType | None = self.waiting_frames[0]
            while frame is not None:
                if not is_plumbing(frame.f_code.co_filename):
                    frames.append(frame)
                frame = frame.f_back
        return frames

    def _answer_inspect(self, msg: dict[str, Any]) -> None:
        if msg.get("op") == "step":  # a stop elsewhere in the chain: drop our pending step
            debughooks.clear_step()
            self.send({"k": "inspected", "req": msg.get("req"), "ok": True, "result": None})
            return
        try:
            failed = msg.get("failed")
            frames = self.failed.get(str(failed), []) if failed else self.user_frames()
            result = inspect_frames(frames, msg)
            reply = {"k": "inspected", "req": msg.get("req"), "ok": True, "result": result}
        except Exception as exc:  # noqa: BLE001 - reported to the asker, never fatal here
            reply = {"k": "inspected", "req": msg.get("req"), "ok": False, "message": str(exc)}
        self.send(reply)


def is_user_variable(name: str, value: Any) -> bool:
    """Hide kernel bookkeeping (In, Out, _i1, modules...) from variables and traces."""
    return (
        not name.startswith("_")
        and name not in _HIDDEN_GLOBALS
        and type(value).__name__ != "module"
    )


class FrameKeeper:
    """The user frames of the exceptions a failed call reports, as data (each numbered
    `n`) and alive, so that a debugger stopped further up can still inspect them."""

    def __init__(self) -> None:
        self.frames: list[FrameType] = []

    def __call__(self, exc: BaseException) -> list[dict[str, Any]]:
        info = capture_error(exc, skip=is_plumbing)
        tb, alive = exc.__traceback__, []
        while tb is not None:
            if not is_plumbing(tb.tb_frame.f_code.co_filename):
                alive.append(tb.tb_frame)
            tb = tb.tb_next
        described = []
        for frame, data in zip(alive, info.frames, strict=True):
            entry = asdict(data)
            entry["n"] = len(self.frames)
            self.frames.append(frame)
            if entry["function"] == "<module>":
                names = _user_ns()
                entry["locals"] = {
                    k: v
                    for k, v in entry["locals"].items()
                    if k in names and is_user_variable(k, names[k])
                }
            described.append(entry)
        return described


def describe_error(exc: BaseException, keeper: FrameKeeper | None = None) -> dict[str, Any]:
    """The error as plain data: user frames only, innermost last, user variables only."""
    keeper = keeper or FrameKeeper()
    info = capture_error(exc, skip=is_plumbing)
    error = {"type": info.type, "message": info.message, "frames": keeper(exc)}
    error.update(describe_exception(exc, keeper))
    return error


def exception_stop() -> str:
    """For a debugger stopped on an exception in this kernel: the frames it and the
    exceptions it chains (as pydevd follows them: the cause, else the context) went through
    in the kernels below, as JSON (the merged stack shows them with this kernel's)."""
    exc = debughooks.stopped_exception()
    if exc is None:
        raise LookupError("this thread is not stopped on an exception")
    chain, seen, current = [], {id(exc)}, exc
    while True:
        linked = current.__cause__ if current.__cause__ is not None else current.__context__
        if linked is None or id(linked) in seen:
            break
        seen.add(id(linked))
        chain.append({"message": str(linked), "below": remote_frames(linked)})
        current = linked
    return json.dumps({"below": remote_frames(exc), "chain": chain}, default=str)


def inspect_frames(frames: list[FrameType], msg: dict[str, Any]) -> Any:
    """Answer one inspection request about blocked caller frames (plain data out)."""
    op = msg.get("op")
    if op == "stack":
        return [
            {
                "name": f.f_code.co_name,
                "file": f.f_code.co_filename,
                "line": f.f_lineno,
                "source": linecache.getline(f.f_code.co_filename, f.f_lineno).strip(),
            }
            for f in frames
        ]
    index = msg.get("frame", 0)
    if not isinstance(index, int) or not 0 <= index < len(frames):
        raise LookupError(f"no caller frame {index!r} (there are {len(frames)})")
    frame = frames[index]
    if op == "variables":
        scope = frame.f_globals if msg.get("scope") == "globals" else frame.f_locals
        return [
            {
                "name": name,
                "value": safe_repr(value),
                "type": type(value).__name__,
                "evaluateName": name,
                "variablesReference": 0,
            }
            for name, value in sorted(scope.items())
            if is_user_variable(name, value)
        ]
    if op == "evaluate":
        value = eval(msg["expression"], frame.f_globals, frame.f_locals)  # noqa: S307
        return {"result": safe_repr(value, max_len=10_000), "type": type(value).__name__}
    if op == "exec":
        exec(msg["code"], frame.f_globals, frame.f_locals)  # noqa: S102
        return {}
    raise ValueError(f"unknown inspection {op!r}")


# -- entry points used by the meta-kernel (sent as silent execute_requests) ---------------
def bootstrap(
    endpoint: Endpoint, instance_id: str, key_hex: str, role: str, cell_dir: str, max_message: int
) -> dict:
    """Connect this kernel to the router; make cells and functions use the shared cell paths."""
    global _runtime
    _runtime = _Runtime(endpoint, instance_id, bytes.fromhex(key_hex), role, max_message)
    threading.Thread(target=_die_with_parent, args=(os.getppid(),), daemon=True).start()
    builtins.call = call  # type: ignore[attr-defined]
    # the serve cell is hidden from debuggers like our modules
    _HIDDEN_FILES.update(
        debughooks.install(
            cell_dir, _PACKAGE_DIR, PythonRuntime.serve_code, _Runtime._run_call.__code__
        )
    )
    if role == "main":
        _install_error_display()
        # a step never outlives its cell (in one kernel pydevd drops it when the cell
        # returns into IPython); here it would stop in the next cell's machinery
        builtins.get_ipython().events.register("post_run_cell", _clear_step)
    return {"pid": os.getpid(), "python": sys.version.split()[0]}


def _clear_step(_result: Any = None) -> None:
    debughooks.clear_step()


def _die_with_parent(parent: int) -> None:
    """A child must not outlive a meta-kernel that was killed without cleaning up."""
    while os.getppid() == parent:
        time.sleep(0.5)
    if os.getpgrp() == os.getpid():  # our own group: take debugpy adapters along
        os.killpg(os.getpid(), signal.SIGKILL)
    os.kill(os.getpid(), signal.SIGKILL)


def define(name: str, source: str, filename: str) -> None:
    """Run a function's cell under its (virtual) cell path so breakpoints and tracebacks match.

    The file must exist on this kernel's host for its debugger to take breakpoints in it:
    where it is missing (a kernel on another host, a cell nobody dumped), it is written
    (never over an existing file).
    """
    _write_missing(filename, source)
    lines = source.splitlines(True)
    linecache.cache[filename] = (len(source), None, lines, filename)
    code = compile(source, filename, "exec")
    exec(code, _user_ns())  # noqa: S102
    if not callable(_user_ns().get(name)):
        raise NameError(f"the cell did not define a function named {name!r}")


def _write_missing(path: str, text: str) -> None:
    if os.path.exists(path):
        return
    try:
        os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
        with open(path, "x", encoding="utf-8") as f:
            f.write(text)
    except OSError:  # another instance wrote it meanwhile, or the place is not writable
        pass


def serve() -> None:
    runtime = _require()
    entered = runtime.enter(primary=True)
    try:
        runtime.serve()
    finally:
        runtime.leave(entered)


def call(name: str, *args: Any, **kwargs: Any) -> Any:
    """Call the function NAME in its own kernel; arguments and result are JSON values."""
    __tracebackhide__ = True  # noqa: F841 - IPython hides this frame
    runtime = _require()
    entered = runtime.enter()
    try:
        return runtime.call(name, args, kwargs, sys._getframe(1))
    finally:
        runtime.leave(entered)


def _raise_here(exc: BaseException) -> None:
    """Raise a callee's exception at the call site, keeping the context it had there (Python
    would otherwise chain it to whatever this caller is handling, if anything)."""
    __tracebackhide__ = True  # noqa: F841 - IPython hides this frame
    context = exc.__context__
    if context is None:
        raise exc
    try:
        raise context
    except BaseException:
        raise exc  # noqa: B904 - chained to its own context, as it was in the callee


def _require() -> _Runtime:
    if _runtime is None:
        raise RuntimeError("call() only works inside a kernel started by metakernel_dbg")
    return _runtime


def _install_error_display() -> None:
    """Show a failed call as ONE error: the merged cross-kernel traceback, innermost last."""
    shell = builtins.get_ipython()  # type: ignore[attr-defined]

    def show(shell: Any, etype: type, value: RemoteError, tb: Any, tb_offset: Any = None) -> list:
        runtime = _require()
        own = describe_error(value)
        own["type"], own["message"] = value.remote_type, value.remote_message
        entered = runtime.enter()
        try:
            runtime.send({"k": "render_error", "error": own, "propagated_from": value.span_id})
            text = _wait_for(runtime, "render_trace")
        finally:
            runtime.leave(entered)
        stb = [text.get("text", str(value))] if text else [str(value)]
        shell._showtraceback(etype, value, stb)
        return stb

    shell.set_custom_exc((RemoteError,), show)


def _wait_for(runtime: _Runtime, kind: str, timeout_ms: int = 5000) -> dict[str, Any] | None:
    for _ in range(max(1, timeout_ms // _WAIT_SLICE_MS)):
        msg = runtime.recv(_WAIT_SLICE_MS)
        if msg and msg.get("k") == kind:
            return msg
    return None
