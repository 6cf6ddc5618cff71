"""The call plane's router: learns of every call and return, so it always knows the live stack.

It runs on its own thread with a blocking poll (no event loop on the hot path). The first
call from a kernel to a function is routed: forwarded to an idle instance of the callee,
the return forwarded back, and with it a *link* (the callee's address and a key pair) the
caller uses for the rest of the render. Linked calls go straight from kernel to kernel; the
caller sends the router a "called" notice and the callee a "returned" one.

Notices from different kernels travel on different connections, so a message may carry a
`dep` (peer, number): the peer's message it causally follows, which the router handles
first. That keeps the router's stack, spans and output order exactly as if it had routed
every call itself.

Several renders run at once, each with its own live stack, trace, timeouts and budget.
Every call belongs to the render of its caller: the render that holds the calling kernel
(an instance serves one render at a time, from its first call in that render to the
render's end), the render the main kernel's cell is (`bound`), or the render the engine
named. A kernel's other threads get connections of their own (`KERNEL~N`), and their calls
a render of their own, a *strand* of the kernel's render: same trace, own stack.

Anything slow (starting a kernel, starting a serve loop) is handed to the engine, which
posts the outcome back with `post()`. Other threads talk to it only through `post()`.
"""

from __future__ import annotations

import collections
import itertools
import json
import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any, Protocol

import zmq

from ..trace import Trace, cap_text, new_span_id, new_trace_id, truncated
from .local import LocalTransport
from .ordering import CausalOrder
from .transport import Transport
from .wire import ARGS_PREVIEW, DEFAULT_MAX_MESSAGE, PAYLOAD, Channel, child_key, link_keys

_STREAM_CAP = 64 * 1024
_TIMEOUT_GRACE = 5.0  # seconds callers get to unwind after a timeout
_HOLD_LIMIT = 1.0  # seconds a message waits for the one it depends on (lost if longer)
#: kernel of a span whose instance is not known yet (or failed to start)
NO_KERNEL = {"spec": "", "kernel_id": "", "pid": None, "host": ""}


class EngineHooks(Protocol):
    """Services the engine provides to the router (all called on the router thread)."""

    def acquire(
        self, function: str, exclude: set[str], render: str, done: Callable[[Any], None]
    ) -> None: ...
    def replace_instance(self, instance: Any) -> None: ...
    def start_serving(self, instance: Any) -> None: ...
    def finish_render(self, render: Render) -> None: ...
    @property
    def functions(self) -> dict[str, Any]: ...
    def publish_output(self, name: str, text: str) -> None: ...


@dataclass
class Level:
    """One active call: who called, who serves it, and its span."""

    span: dict[str, Any]
    caller: str  # instance id, or "" for a call made by the engine (Session.call)
    caller_call_id: Any
    callee: Any = None  # Instance once chosen
    call_id: int = 0  # id of the call as the callee knows it
    abandoned: bool = False
    future: Future | None = None
    stop_on_entry: bool = False
    deadline: float | None = None  # time.monotonic() after which the call times out


@dataclass
class Limits:
    max_depth: int = 32
    max_calls: int = 0  # per render; 0 = unlimited
    max_message: int = DEFAULT_MAX_MESSAGE
    call_timeout: float | None = None  # seconds per call; None = wait forever
    render_timeout: float | None = None  # seconds per top-level render; None = no limit


@dataclass
class Render:
    """The calls of one top-level execution: its trace spans and its live stack.

    A strand (`parent` set) shares its parent's trace (id, root, spans) and ends with it.
    """

    trace_id: str
    root: dict[str, Any]
    spans: dict[str, dict[str, Any]] = field(default_factory=dict)
    stack: list[Level] = field(default_factory=list)
    calls: int = 0
    deadline: float | None = None  # time.monotonic() when the whole render times out
    expired: bool = False
    #: unique among the live renders (the trace id, or trace id/N for a strand)
    key: str = ""
    #: who makes this render's outermost calls: "" (the engine) or a call-plane identity
    caller: str = ""
    #: the debugger shows each render as a DAP thread; the first render is thread 1
    thread_id: int = 1
    parent: Render | None = None
    strands: list[Render] = field(default_factory=list)
    #: instances this render holds (by id) until it ends: never lent to another render
    claimed: dict[str, Any] = field(default_factory=dict)
    #: instances that died in this render, with the failure their calls get
    dead: dict[str, tuple[Any, dict[str, Any]]] = field(default_factory=dict)
    #: begun by a call outside any render; ends when its stack is empty again
    implicit: bool = False

    def family(self) -> list[Render]:
        """This render and its strands."""
        return [self, *self.strands]

    def trace(self) -> Trace:
        """The render's trace; call arguments are decoded here, off the call path."""
        spans = []
        for span in self.spans.values():
            span = {k: v for k, v in span.items() if k != "origin"}
            if isinstance(span["args"], bytes):
                span["args"], span["kwargs"] = _span_arguments(span["args"])
            spans.append(span)
        return Trace.from_dict({"trace_id": self.trace_id, "spans": spans})


class Router:
    """ROUTER socket + routing state; one thread owns the socket."""

    def __init__(
        self,
        workdir: str,
        hooks: EngineHooks,
        limits: Limits | None = None,
        transport: Transport | None = None,
    ) -> None:
        self.master = os.urandom(32)
        self.hooks = hooks
        self.limits = limits or Limits()
        self.transport = transport or LocalTransport(workdir)
        self.instances: dict[str, Any] = {}
        self.channels: dict[str, Channel] = {}
        self.direct: dict[str, str] = {}  # instance id -> address of its own call socket
        self.linked_calls = 0  # calls that went kernel to kernel (for tests and the bench)
        #: an ended render's instances serve other renders (off: "per-render" isolation)
        self.reuse_instances = True
        self.order = CausalOrder(lambda peer: peer in self.channels)
        #: the live renders, by key
        self.renders: dict[str, Render] = {}
        #: the render of callers no render holds: the main kernel's cell, a kernel's other
        #: threads (strands), callers outside any render (implicit renders)
        self.bound: dict[str, str] = {}
        self._thread_ids = itertools.count(2)
        self.last_failure: Trace | None = None
        self._call_ids = iter(range(1, 1 << 62))
        self._pending_inspect: dict[int, Future] = {}
        self._inspect_ids = iter(range(1, 1 << 62))
        self._posted: collections.deque[Callable[[], None]] = collections.deque()
        self._hellos: dict[str, Future] = {}
        ctx = zmq.Context.instance()
        self.sock = ctx.socket(zmq.ROUTER)
        self.sock.setsockopt(zmq.LINGER, 0)
        self.sock.setsockopt(zmq.ROUTER_MANDATORY, 1)
        self.sock.setsockopt(zmq.MAXMSGSIZE, self.limits.max_message + 64)
        self.address = self.transport.bind(self.sock)
        self._wake_addr = f"inproc://mkdbg-wake-{id(self)}"
        self._wake_rx = ctx.socket(zmq.PULL)
        self._wake_rx.bind(self._wake_addr)
        self._wake_tx = ctx.socket(zmq.PUSH)
        self._wake_tx.connect(self._wake_addr)
        self._wake_lock = threading.Lock()
        self._stopping = False
        self.thread = threading.Thread(target=self._loop, name="mkdbg-router", daemon=True)

    # -- thread plumbing ----------------------------------------------------------------
    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        self._stopping = True
        self.post(lambda: None)
        self.thread.join(timeout=5)
        for sock in (self.sock, self._wake_rx, self._wake_tx):
            sock.close(linger=0)
        self.transport.close()

    def post(self, fn: Callable[[], None]) -> None:
        """Run fn on the router thread (the only thread that may touch the socket)."""
        self._posted.append(fn)
        with self._wake_lock:
            self._wake_tx.send(b"")

    def call_soon(self, fn: Callable[[], Any]) -> Future:
        """Run fn on the router thread and get its result as a future."""
        fut: Future = Future()

        def run() -> None:
            try:
                fut.set_result(fn())
            except BaseException as exc:  # noqa: BLE001 - handed to the waiter
                fut.set_exception(exc)

        self.post(run)
        return fut

    def _loop(self) -> None:
        poller = zmq.Poller()
        poller.register(self.sock, zmq.POLLIN)
        poller.register(self._wake_rx, zmq.POLLIN)
        while not self._stopping:
            events = dict(poller.poll(self._next_timeout_ms()))
            self._expire_deadlines()
            if self.order.holding:
                self._handle(self.order.release(lost_before=time.monotonic() - _HOLD_LIMIT))
            if self.sock in events:
                for _ in range(64):
                    try:
                        frames = self.sock.recv_multipart(zmq.NOBLOCK)
                    except zmq.Again:
                        break
                    self._receive(frames)
            if self._wake_rx in events:
                while True:
                    try:
                        self._wake_rx.recv(zmq.NOBLOCK)
                    except zmq.Again:
                        break
                while self._posted:
                    self._posted.popleft()()

    def _next_timeout_ms(self) -> int | None:
        deadlines = []
        for render in self.renders.values():
            deadlines += [lvl.deadline for lvl in render.stack if lvl.deadline]
            if render.deadline and render.stack:
                deadlines.append(render.deadline)
        if self.order.holding:
            deadlines.append(time.monotonic() + _HOLD_LIMIT / 4)
        if not deadlines:
            return None
        return max(0, int((min(deadlines) - time.monotonic()) * 1000) + 1)

    def _expire_deadlines(self) -> None:
        now = time.monotonic()
        for render in list(self.renders.values()):
            if render.stack:
                self._expire(render, now)

    def _expire(self, render: Render, now: float) -> None:
        """A call ran past its timeout: fail the innermost call (the one actually running)
        and replace its kernel; the failure then unwinds the callers like any error."""
        call_expired = any(lvl.deadline is not None and now >= lvl.deadline for lvl in render.stack)
        render_expired = render.deadline is not None and now >= render.deadline
        if not (call_expired or render_expired):
            return
        level = render.stack[-1]
        for other in render.stack:
            other.deadline = now + _TIMEOUT_GRACE
            if other.caller:  # unwinding callers must not call on through their links
                self.send(other.caller, {"k": "revoke"})
        inst = level.callee
        where = inst.child.label if inst is not None else level.span["function"]
        if render_expired:
            render.expired, render.deadline = True, None
            message = f"the render ran past its {self.limits.render_timeout:g} s timeout in {where}"
        else:
            message = f"{where} did not return within {self.limits.call_timeout:g} s"
        self._callee_failed(render, level, {"kind": "timeout", "message": message})
        if inst is not None:
            inst.serving = False
            self.hooks.replace_instance(inst)

    # -- instances ----------------------------------------------------------------------
    def key_for(self, instance_id: str) -> bytes:
        return child_key(self.master, instance_id)

    def add_instance(self, instance: Any) -> Future:
        """Register an instance; the future is done once its runtime said hello (from then
        on the ROUTER socket can route to it)."""
        # payloads are only forwarded here; their final receiver verifies them
        self.channels[instance.instance_id] = Channel(
            self.key_for(instance.instance_id), verify_payload=False
        )
        self.instances[instance.instance_id] = instance
        hello: Future = Future()
        self._hellos[instance.instance_id] = hello
        return hello

    def remove_instance(self, instance_id: str) -> None:
        self.instances.pop(instance_id, None)
        self.direct.pop(instance_id, None)
        self.transport.release(instance_id)
        for peer in [p for p in self.channels if p.partition(_THREAD)[0] == instance_id]:
            self.channels.pop(peer, None)
            self.bound.pop(peer, None)
            self._handle(self.order.forget(peer))

    def _thread_channel(self, peer: str) -> Channel | None:
        """A channel for another thread of a known kernel (`KERNEL~N`), on its first
        message; its key derives from the kernel's as a kernel's derives from the master."""
        base, sep, number = peer.partition(_THREAD)
        if not sep or not number.isdigit() or base not in self.instances:
            return None
        return Channel(child_key(self.key_for(base), peer), verify_payload=False)

    def send(self, instance_id: str, msg: dict[str, Any]) -> bool:
        channel = self.channels.get(instance_id)
        if channel is None:
            return False
        try:
            self.sock.send_multipart([instance_id.encode(), *channel.pack(msg)])
        except (zmq.ZMQError, TypeError, ValueError):  # peer gone, or not JSON: never fatal
            return False
        return True

    # -- renders ------------------------------------------------------------------------
    def begin_render(self, root: dict[str, Any], caller: str = "") -> Render:
        """Start a render; `root` names the top-level span (function, kernel). `caller`: the
        kernel whose calls belong to it (the main kernel for a cell), "" for the engine."""
        span = self._span(root["function"], root["kernel"], None, [], {}, None)
        trace_id = new_trace_id()
        render = Render(trace_id, span, {span["span_id"]: span}, key=trace_id, caller=caller)
        if any(r.thread_id == 1 for r in self.renders.values()):
            render.thread_id = next(self._thread_ids)
        if self.limits.render_timeout:
            render.deadline = time.monotonic() + self.limits.render_timeout
        self.renders[render.key] = render
        if caller:
            self.bound[caller] = render.key
        return render

    def _strand(self, parent: Render, caller: str) -> Render:
        """A render for another thread of a kernel that `parent` holds."""
        key = f"{parent.trace_id}/{len(parent.strands) + 1}"
        strand = Render(parent.trace_id, parent.root, parent.spans, key=key, caller=caller)
        strand.thread_id, strand.parent = next(self._thread_ids), parent
        strand.deadline = parent.deadline
        parent.strands.append(strand)
        self.renders[key] = strand
        self.bound[caller] = key
        return strand

    def end_render(self, key: str) -> Render | None:
        """End a render and its strands. Their instances serve other renders from now on
        (their serve loops keep running; the links they hold end with the render), unless
        `reuse_instances` is off ("per-render" isolation: the engine discards them)."""
        render = self.renders.get(key)
        if render is None or render.parent is not None:
            return None
        render.root["end_ns"] = time.time_ns()
        for part in render.family():
            del self.renders[part.key]
            for peer in [p for p, k in self.bound.items() if k == part.key]:
                del self.bound[peer]
            for level in part.stack:
                if level.callee is not None:
                    level.callee.busy = False
            for inst in part.claimed.values() if self.reuse_instances else ():
                if inst.serving:
                    self.send(inst.instance_id, {"k": "revoke"})
                if inst.render_id == part.key:
                    inst.render_id = None
        return render

    def stop_serving(self, inst: Any) -> None:
        """End an instance's serve loop (its kernel then runs queued code: a redefinition);
        a later call starts it again."""
        if inst.serving:
            inst.serving = False
            self.send(inst.instance_id, {"k": "stop"})

    def _end_if_implicit(self, render: Render) -> None:
        if render.implicit and not render.stack and render.key in self.renders:
            self.end_render(render.key)
            self.hooks.finish_render(render)

    def render_of(self, peer: str) -> Render | None:
        """The render a call-plane peer (a kernel or one of its threads) works for.

        Read-only: safe to call from another thread (the debugger's, on the engine loop)."""
        key = self.bound.get(peer)
        if key is None:
            inst = self.instances.get(peer)
            key = inst.render_id if inst is not None else None
        return self.renders.get(key) if key else None

    def _render_for_call(self, caller: str) -> Render:
        """The render a routed call from `caller` belongs to; a strand for another thread of
        a kernel in a render, an implicit render for a caller outside any."""
        render = self.render_of(caller)
        if render is not None:
            return render
        base, sep, _ = caller.partition(_THREAD)
        parent = self.render_of(base) if sep else None
        if parent is not None:
            return self._strand(parent.parent or parent, caller)
        render = self.begin_render({"function": "<call>", "kernel": dict(NO_KERNEL)}, caller)
        render.implicit = True
        return render

    def _span(self, function, kernel, parent, args, kwargs, site, span_id=None) -> dict[str, Any]:
        return {
            "span_id": span_id or new_span_id(),
            "parent_span_id": parent,
            "function": function,
            "kernel": kernel,
            "args": args,
            "kwargs": kwargs,
            "start_ns": time.time_ns(),
            "end_ns": None,
            "status": "ok",
            "stdout": "",
            "stderr": "",
            "call_site": site,
            "error": None,
            "exit": None,
            "timed_out": False,
        }

    def stack_levels(self, key: str | None = None) -> list[Level]:
        """The live call stack of render `key` (of every render if None), outermost first
        (a copy; call on the router thread)."""
        if key is not None:
            render = self.renders.get(key)
            return list(render.stack) if render else []
        return [lvl for render in self.renders.values() for lvl in render.stack]

    def chain_of(self, peer: str | None) -> tuple[Render | None, list[tuple[Any, str]]]:
        """The render `peer` works for (None: the render of thread 1) and its live chain:
        (instance, call-plane identity) outermost first, the identity answering inspections
        of that level (a kernel's other thread for a strand)."""
        if peer is None:
            render = next((r for r in self.renders.values() if r.thread_id == 1), None)
        else:
            render = self.render_of(peer)
        return render, self._chain(render) if render else []

    def _chain(self, render: Render) -> list[tuple[Any, str]]:
        chain: list[tuple[Any, str]] = []
        if render.caller:
            base = render.caller.partition(_THREAD)[0]
            if render.parent is not None:  # the parent's chain down to the calling kernel
                outer = self._chain(render.parent)
                ids = [inst.instance_id for inst, _ in outer]
                chain = outer[: ids.index(base)] if base in ids else []
            if base in self.instances:
                chain.append((self.instances[base], render.caller))
        return chain + [(lvl.callee, lvl.callee.instance_id) for lvl in render.stack if lvl.callee]

    def threads(self) -> list[tuple[int, str]]:
        """(DAP thread id, outermost function) of every live render."""
        return [
            (r.thread_id, r.stack[0].span["function"] if r.stack else "")
            for r in self.renders.values()
        ]

    # -- receiving ----------------------------------------------------------------------
    def _receive(self, frames: list[bytes]) -> None:
        sender = frames[0].decode(errors="replace")
        channel = self.channels.get(sender) or self._thread_channel(sender)
        msg = channel.unpack(frames[1:]) if channel else None
        if msg is None:
            return  # unknown peer, forged or replayed: dropped without a word
        self.channels.setdefault(sender, channel)  # a thread's, kept once it proved its key
        self._handle(self.order.receive(sender, msg, time.monotonic()))

    def _handle(self, ready: list[tuple[str, dict[str, Any]]]) -> None:
        for sender, msg in ready:
            handler = getattr(self, f"_on_{msg.get('k')}", None)
            if handler is not None:
                handler(sender, msg)

    def _on_call(self, sender: str, msg: dict[str, Any]) -> None:
        self.start_call(
            self._render_for_call(sender),
            sender,
            msg.get("id"),
            msg.get("fn"),
            msg.get(PAYLOAD, b"[[],{}]"),
            msg.get("site"),
            bool(msg.get("entry")),
            digest=msg.get("pd"),
        )

    def start_call(
        self,
        render: Render | str,
        caller,
        caller_call_id,
        fn,
        payload: bytes,
        site,
        entry=False,
        future: Future | None = None,
        digest: str | None = None,
    ) -> None:
        """Route a call to an idle instance of `fn`, starting one if needed.

        `render`: the render (or its key) the call belongs to. `payload` (JSON of
        `[args, kwargs]`) is forwarded as is, never decoded here.
        """
        if isinstance(render, str):
            found = self.renders.get(render)
            if found is None:
                error = {"kind": "aborted", "message": "the render has already ended"}
                self._fail(caller, caller_call_id, future, error)
                return
            render = found
        parent = self._current_span(render, caller)
        error = self._refuse(render, fn)
        if error:
            self._fail(caller, caller_call_id, future, error)
            self._end_if_implicit(render)
            return
        render.calls += 1
        # the raw payload is kept; Render.trace() decodes it only if a trace is wanted
        span = self._span(fn, dict(NO_KERNEL), parent["span_id"], payload, None, site)
        level = Level(span, caller, caller_call_id, future=future, stop_on_entry=entry)
        level.call_id = next(self._call_ids)
        self._push(render, level)
        busy = {lvl.callee.instance_id for lvl in render.stack if lvl.callee is not None}
        forward = {PAYLOAD: payload, "pd": digest} if digest else {PAYLOAD: payload}
        self.hooks.acquire(
            fn, busy, render.key, lambda result: self._dispatch(render, level, forward, result)
        )

    def _push(self, render: Render, level: Level) -> None:
        """A call starts: it joins the live stack and the trace, its timeout runs."""
        if self.limits.call_timeout:
            level.deadline = time.monotonic() + self.limits.call_timeout
        render.stack.append(level)
        render.spans[level.span["span_id"]] = level.span

    def _refuse(self, render: Render, fn: Any) -> dict[str, Any] | None:
        if not isinstance(fn, str) or fn not in self.hooks.functions:
            known = ", ".join(sorted(self.hooks.functions)) or "(none)"
            return {
                "kind": "unknown_function",
                "message": f"no function named {fn!r}; known functions: {known}",
            }
        if len(render.stack) >= self.limits.max_depth:
            chain = " -> ".join(str(lvl.span["function"]) for lvl in render.stack)
            return {
                "kind": "depth",
                "message": f"call depth limit {self.limits.max_depth} "
                f"reached calling {fn!r} (stack: {chain})",
            }
        if render.expired:
            return {
                "kind": "timeout",
                "message": f"the render ran past its {self.limits.render_timeout:g} s timeout",
            }
        if self.limits.max_calls and render.calls >= self.limits.max_calls:
            return {
                "kind": "budget",
                "message": f"call budget of {self.limits.max_calls} calls per render used up",
            }
        return None

    def _dispatch(self, render: Render, level: Level, forward: dict[str, Any], result: Any) -> None:
        """The engine found (or started) an instance for this call, or failed to. The
        instance comes claimed for the render (`render_id`)."""
        live = self.renders.get(render.key) is render
        wanted = live and level in render.stack
        if not isinstance(result, BaseException):
            if live:
                render.claimed[result.instance_id] = result  # given back when it ends
            else:
                result.render_id = None  # the render ended while it started: back to the pool
            if not wanted:
                result.busy = False
        if not wanted:
            return
        if isinstance(result, BaseException):
            render.stack.remove(level)
            level.span.update(
                status="error",
                end_ns=time.time_ns(),
                error={"type": type(result).__name__, "message": str(result), "frames": []},
            )
            self._fail(
                level.caller,
                level.caller_call_id,
                level.future,
                {"kind": "start", "message": str(result), "span": level.span["span_id"]},
            )
            self._end_if_implicit(render)
            return
        inst = result
        inst.busy = True
        level.callee = inst
        level.span["kernel"] = inst.kernel_info()
        if not inst.serving:
            inst.serving = True
            self.hooks.start_serving(inst)
        msg = {
            "k": "call",
            "id": level.call_id,
            "fn": level.span["function"],
            **forward,
            "span": level.span["span_id"],
            "entry": level.stop_on_entry,
            "chain": [lvl.callee.instance_id for lvl in render.stack if lvl.callee is not None],
        }
        if not self.send(inst.instance_id, msg):
            self._callee_failed(
                render,
                level,
                {"kind": "died", "message": f"{inst.function} kernel is unreachable"},
            )

    def _current_span(self, render: Render, peer: str) -> dict[str, Any]:
        """The span a kernel is currently serving (the root for main and the engine)."""
        for level in reversed(render.stack):
            if level.callee is not None and level.callee.instance_id == peer:
                return level.span
        if render.parent is not None:  # another thread of a kernel: under what it serves
            return self._current_span(render.parent, peer.partition(_THREAD)[0])
        return render.root

    def _level_served_by(self, instance_id: str, call_id: Any) -> tuple[Render, Level] | None:
        render = self.render_of(instance_id)
        if render is None:
            return None
        for level in reversed(render.stack):
            if (
                level.callee is not None
                and level.callee.instance_id == instance_id
                and level.call_id == call_id
            ):
                return render, level
        return None

    def _on_return(self, sender: str, msg: dict[str, Any]) -> None:
        found = self._level_served_by(sender, msg.get("id"))
        if found is None:
            return
        render, level = found
        self._pop(render, level)
        level.span["end_ns"] = time.time_ns()
        reply = {"k": "return", "id": level.caller_call_id}
        if PAYLOAD in msg:
            reply.update({PAYLOAD: msg[PAYLOAD], "pd": msg["pd"]})
        if msg.get("step"):  # the callee's pending step, for the caller's debugger
            reply["step"] = msg["step"]
        grant = None if render.implicit else self._grant(level)
        if grant is not None:
            reply["grant"] = grant
        self._deliver(level, reply)
        self._end_if_implicit(render)

    def _grant(self, level: Level) -> dict[str, Any] | None:
        """A link for the caller to call this instance directly for the rest of the render.

        None for implicit renders (they end with their call; the serve loops with them);
        for the engine's own calls; for the main kernel, whose own output goes to
        IOPub, not through the router (only a routed return keeps it behind the output of
        the kernels it called); and under a call budget (only routed calls can be refused
        exactly at the budget).
        """
        inst, caller = level.callee, self.instances.get(level.caller)
        address = self.direct.get(inst.instance_id) if inst is not None else None
        if caller is None or caller.function is None or self.limits.max_calls or not address:
            return None
        keys = link_keys(self.key_for(inst.instance_id), level.caller)
        return {
            "to": inst.instance_id,
            "addr": address,
            "keys": [k.hex() for k in keys],
            "depth": self.limits.max_depth,
        }

    def _on_called(self, sender: str, msg: dict[str, Any]) -> None:
        """A linked call the sender made directly: it joins the stack like a routed one."""
        render, span_id = self.render_of(sender), msg.get("id")
        fn, to = msg.get("fn"), msg.get("to")
        if render is None or not isinstance(span_id, str) or not isinstance(to, str):
            return  # no render to record it in (links only hold within a render)
        inst, death = render.dead.get(to, (self.instances.get(to), None))
        if death is None and (
            inst is None
            or inst.busy
            or inst.render_id != render.key
            or inst.function != fn
            or inst.definition is not self.hooks.functions.get(fn)
            or self._refuse(render, fn)
        ):  # a stale link (instance gone, replaced or redefined): route this call instead
            self.send(sender, {"k": "redirect", "id": span_id})
            return
        render.calls += 1
        self.linked_calls += 1
        parent = self._current_span(render, sender)
        args: Any = msg.get(PAYLOAD, b"[[],{}]")
        size = msg.get("size")
        kwargs = None
        if isinstance(size, int) and size > ARGS_PREVIEW:
            args, kwargs = _span_arguments(args, size)
        site = msg.get("site")
        span = self._span(fn, inst.kernel_info(), parent["span_id"], args, kwargs, site, span_id)
        level = Level(span, sender, span_id, callee=inst, call_id=span_id)
        level.stop_on_entry = bool(msg.get("entry"))
        inst.busy = True
        self._push(render, level)
        if death is not None:  # the callee died with this call (or before reading it)
            self._callee_failed(render, level, death)

    def _on_returned(self, sender: str, msg: dict[str, Any]) -> None:
        """Notice of a linked call's return (the value went straight to the caller)."""
        found = self._level_served_by(sender, msg.get("id"))
        if found is not None:
            self._pop(*found)
            found[1].span["end_ns"] = time.time_ns()

    def _on_error(self, sender: str, msg: dict[str, Any]) -> None:
        found = self._level_served_by(sender, msg.get("id"))
        if found is None:
            return
        error = dict(msg.get("error") or {})
        error["propagated_from"] = msg.get("propagated_from")
        self._callee_failed(*found, {"kind": "remote", "error": error, "step": msg.get("step")})

    def _callee_failed(self, render: Render, level: Level, failure: dict[str, Any]) -> None:
        """Record the failure on the span and hand it to the caller."""
        span = level.span
        self._pop(render, level)
        error = failure.get("error") or {
            "type": _KIND_TYPES.get(failure["kind"], "Error"),
            "message": failure.get("message", ""),
            "frames": [],
        }
        span.update(status="error", end_ns=time.time_ns(), error=error)
        if failure.get("exit"):
            span["exit"] = failure["exit"]
        if failure["kind"] == "timeout":
            span["timed_out"] = True
        child = render.spans.get(error.get("propagated_from") or "")
        origin = child.get("origin") if child else None
        span["origin"] = origin or {
            "function": span["function"],
            "kernel": span["kernel"],
            "type": error.get("type"),
            "message": error.get("message"),
        }
        reply = {
            "k": "error",
            "id": level.caller_call_id,
            "kind": failure["kind"],
            "message": failure.get("message", error.get("message")),
            "function": span["function"],
            "kernel": span["kernel"],
            "error": error,
            "span": span["span_id"],
            "origin": span["origin"],
        }
        if failure.get("step"):
            reply["step"] = failure["step"]
        self._deliver(level, reply)
        self._end_if_implicit(render)

    def _pop(self, render: Render, level: Level) -> None:
        if level in render.stack:
            render.stack.remove(level)
        if level.callee is not None:
            level.callee.busy = False

    def _deliver(self, level: Level, reply: dict[str, Any]) -> None:
        if level.future is not None:
            if not level.future.done():
                level.future.set_result(reply)
        elif not level.abandoned:
            self.send(level.caller, reply)

    def _fail(self, caller, caller_call_id, future, error: dict[str, Any]) -> None:
        reply = {"k": "error", "id": caller_call_id, **error}
        if future is not None:
            future.set_result(reply)
        else:
            self.send(caller, reply)

    def _on_cancel(self, sender: str, msg: dict[str, Any]) -> None:
        render = self.render_of(sender)
        if render is None:
            return
        for level in render.stack:
            if level.caller == sender and level.caller_call_id == msg.get("id"):
                level.abandoned = True

    def _on_out(self, sender: str, msg: dict[str, Any]) -> None:
        name = "stderr" if msg.get("name") == "stderr" else "stdout"
        text = str(msg.get("text", ""))
        render = self.render_of(sender)
        if render is not None:
            span = self._current_span(render, sender)
            span[name] = cap_text(span[name] + text, _STREAM_CAP)
        self.hooks.publish_output(name, text)

    def _on_hello(self, sender: str, msg: dict[str, Any]) -> None:
        if isinstance(msg.get("direct"), str):
            self.direct[sender] = msg["direct"]
        hello = self._hellos.pop(sender, None)
        if hello is not None and not hello.done():
            hello.set_result(True)

    def _on_serving(self, sender: str, msg: dict[str, Any]) -> None:
        """A serve loop started; nothing to do (calls were queued before it)."""

    def _on_inspected(self, sender: str, msg: dict[str, Any]) -> None:
        fut = self._pending_inspect.pop(msg.get("req"), None)
        if fut is not None and not fut.done():
            if msg.get("ok"):
                fut.set_result(msg.get("result"))
            else:
                fut.set_exception(LookupError(msg.get("message", "inspection failed")))

    def _on_render_error(self, sender: str, msg: dict[str, Any]) -> None:
        """The main kernel reports the uncaught failure of its cell: close the trace."""
        render = self.render_of(sender) or self.render_of(sender.partition(_THREAD)[0])
        if render is None:
            return
        root = render.root
        error = dict(msg.get("error") or {})
        error["propagated_from"] = msg.get("propagated_from")
        root.update(status="error", error=error, end_ns=time.time_ns())
        trace = render.trace()
        self.last_failure = trace
        self.send(sender, {"k": "render_trace", "text": trace.to_text(color=True)})

    # -- inspection (debugger, console) ---------------------------------------------------
    def inspect(self, instance_id: str, request: dict[str, Any]) -> Future:
        """Ask a blocked caller about its frames; call on the router thread."""
        fut: Future = Future()
        req = next(self._inspect_ids)
        self._pending_inspect[req] = fut
        if not self.send(instance_id, {"k": "inspect", "req": req, **request}):
            self._pending_inspect.pop(req, None)
            fut.set_exception(LookupError(f"kernel {instance_id} is unreachable"))
        return fut

    def instance_died(self, instance_id: str, failure: dict[str, Any]) -> None:
        """A child died: fail the call it was serving, and forget it.

        A linked call may have reached it before the router heard of that call (the
        caller's notice can still be on its way): such a notice then gets this failure.
        """
        inst = self.instances.get(instance_id)
        if inst is not None:
            render = self.render_of(instance_id)
            if render is not None:
                render.dead[instance_id] = (inst, failure)
            self.remove_instance(instance_id)
        self.fail_calls_served_by(instance_id, failure)

    def fail_calls_served_by(self, instance_id: str, failure: dict[str, Any]) -> None:
        """Fail the call an instance is serving (and free its caller)."""
        for render in list(self.renders.values()):
            for level in reversed(render.stack):
                if level.callee is not None and level.callee.instance_id == instance_id:
                    self._callee_failed(render, level, failure)
                    return


#: separates a kernel's id from the number of one of its other threads (`main-1~2`)
_THREAD = "~"

_KIND_TYPES = {
    "died": "KernelDiedError",
    "timeout": "CallTimeoutError",
    "start": "KernelStartError",
    "aborted": "CallAborted",
}


def _span_arguments(payload: bytes, size: int | None = None) -> tuple[Any, Any]:
    """Arguments as recorded in a span: decoded when small, a truncation marker otherwise.

    `size`: the arguments' full size when `payload` is only their first bytes.
    """
    size = len(payload) if size is None else size
    if size <= ARGS_PREVIEW:
        try:
            args, kwargs = json.loads(payload)
            return args, kwargs
        except ValueError:
            pass
    return truncated(size, payload[1:201].decode("utf-8", errors="replace")), {}
