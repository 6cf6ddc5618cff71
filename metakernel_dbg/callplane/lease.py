"""Leases: a child on another host ends itself once its meta-kernel is gone.

A child on the meta-kernel's host dies with it (a parent-death signal, `launch/childsite`);
a kernel on another host has no such parent: an SSH launcher's shell is gone long before.
So every remote child holds a lease. Its keeper, a thread in the child with a socket of its
own, sends `renew` every `interval` seconds to the holder in the meta-kernel, which answers
`ok` from a thread of its own too (no long work runs there, unlike on the engine loop), for
the children it still has only. A child that got no answer for `expire` seconds kills what
it started and exits; the holder, in turn, reports a child silent for `expire` seconds as
lost. So both ends learn of a death
or a partition within `expire` seconds, however the meta-kernel ended (SIGKILL included).

Both sockets are secured like the call plane (`tcp.py`): the holder is a CurveZMQ server
with the meta-kernel's key pair, a keeper uses its child's client key pair.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import zmq

RENEW, OK = b"renew", b"ok"
#: set in a child once it keeps a lease (the remote launcher's start-up watchdog waits on it)
kept = threading.Event()


@dataclass(frozen=True)
class LeaseTerms:
    """How often a child renews, and how long a silence ends it (seconds)."""

    interval: float = 1.0
    expire: float = 10.0


class LeaseHolder:
    """The meta side, for one address: answers renewals and notices children that stopped
    renewing. `bind(sock)` binds its socket (a Curve server of the call plane: `secure`)
    and gives the address; `on_lost(instance_id, silent_for)` is called on the holder's
    thread, once per child that went silent."""

    def __init__(
        self,
        terms: LeaseTerms,
        bind: Callable[[Any], str],
        secure: Callable[[Any], None],
        on_lost: Callable[[str, float], None],
    ) -> None:
        self.terms = terms
        self.on_lost = on_lost
        self.sock = zmq.Context.instance().socket(zmq.ROUTER)
        self.sock.setsockopt(zmq.LINGER, 0)
        secure(self.sock)
        self.address = bind(self.sock)  # before the thread that owns it from now on starts
        self._lock = threading.Lock()
        self._last: dict[str, float] = {}  # instance id -> time of its last renewal
        self._stopping = False
        self._thread = threading.Thread(target=self._loop, name="mkdbg-lease", daemon=True)
        self._thread.start()

    def track(self, instance_id: str) -> None:
        """Expect renewals from this child from now on."""
        with self._lock:
            self._last[instance_id] = time.monotonic()

    def forget(self, instance_id: str) -> None:
        with self._lock:
            self._last.pop(instance_id, None)

    def stop(self) -> None:
        self._stopping = True
        self._thread.join(timeout=5)
        self.sock.close(linger=0)

    def _loop(self) -> None:
        while not self._stopping:
            if self.sock.poll(int(self.terms.interval * 500)):
                while self.sock.poll(0):
                    ident, *frames = self.sock.recv_multipart()
                    name = ident.decode(errors="replace").rpartition("/")[0]
                    if frames == [RENEW] and self._renewed(name):
                        self.sock.send_multipart([ident, OK])
            self._report_silent()

    def _renewed(self, instance_id: str) -> bool:
        """Renew a child's lease; False for a child this meta-kernel let go (or never had):
        unanswered, it ends itself."""
        with self._lock:
            if instance_id not in self._last:
                return False
            self._last[instance_id] = time.monotonic()
            return True

    def _report_silent(self) -> None:
        now = time.monotonic()
        with self._lock:
            silent = [(i, now - t) for i, t in self._last.items() if now - t > self.terms.expire]
            for instance_id, _ in silent:
                del self._last[instance_id]
        for instance_id, silent_for in silent:
            self.on_lost(instance_id, silent_for)


def keep(
    address: str,
    identity: str,
    terms: LeaseTerms,
    secure: Callable[[Any], None],
    on_expiry: Callable[[str], None] | None = None,
) -> threading.Thread:
    """The child side: renew the lease from a daemon thread; on expiry, `on_expiry(reason)`
    (default: end this process and what it started)."""

    def run() -> None:
        sock = zmq.Context.instance().socket(zmq.DEALER)
        sock.setsockopt(zmq.LINGER, 0)
        sock.setsockopt(zmq.IMMEDIATE, 1)  # no backlog of stale renewals during an outage
        sock.setsockopt(zmq.IDENTITY, f"{identity}/lease".encode())
        secure(sock)
        sock.connect(address)
        last_ok = time.monotonic()
        next_renewal = 0.0
        while True:
            now = time.monotonic()
            if now >= next_renewal:
                try:
                    sock.send(RENEW, zmq.NOBLOCK)
                except zmq.Again:  # not connected: the silence counts on
                    pass
                next_renewal = now + terms.interval
            wake = min(next_renewal, last_ok + terms.expire)
            if sock.poll(max(1, int((wake - time.monotonic()) * 1000))) and sock.recv() == OK:
                last_ok = time.monotonic()
            silent = time.monotonic() - last_ok
            if silent > terms.expire:
                reason = f"the meta-kernel did not renew the lease for {silent:.1f} s"
                (on_expiry or end_process)(reason)
                return

    thread = threading.Thread(target=run, name="mkdbg-lease", daemon=True)
    thread.start()
    kept.set()
    return thread


def end_process(reason: str) -> None:
    """End this process and every process it started (a remote kernel: its launcher's
    listener too); debugpy adapters, in sessions of their own, exit with their kernel."""
    os.write(2, f"[metakernel_dbg] {reason}: exiting\n".encode())  # the log (not IOPub)
    try:
        import psutil

        for child in psutil.Process().children(recursive=True):
            try:
                child.kill()
            except psutil.Error:
                pass
    finally:
        os.kill(os.getpid(), signal.SIGKILL)
