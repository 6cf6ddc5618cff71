"""Causal ordering of the notices kernels send the router (sans-IO: plain data in and out).

A linked call goes straight from caller to callee, and both tell the router on their own
connection. Each connection is FIFO, but two connections are not ordered against each other:
the callee's first message could overtake the caller's "called" notice. So a message that
causally follows another peer's message names it, `dep = [peer, number]`, and is held until
that message was handled. Every message of a peer with a held message waits behind it,
which keeps each peer's own order.
"""

from __future__ import annotations

import collections
from collections.abc import Callable
from typing import Any

Message = dict[str, Any]


class CausalOrder:
    """Decides when a received message may be handled.

    `alive(peer)` tells whether a peer can still send: nothing is waited for from a peer
    that is gone. Messages carry their sender's counter as `n` (see `callplane.Channel`).
    """

    def __init__(self, alive: Callable[[str], bool]) -> None:
        self._alive = alive
        self._handled: dict[str, int] = {}  # per peer: the number of its last handled message
        self._held: dict[str, collections.deque[tuple[float, Message]]] = {}

    @property
    def holding(self) -> bool:
        return bool(self._held)

    def receive(self, peer: str, msg: Message, now: float) -> list[tuple[str, Message]]:
        """The messages to handle now, in order: this one and any it released (or none)."""
        if peer in self._held or not self._met(msg.get("dep")):
            self._held.setdefault(peer, collections.deque()).append((now, msg))
            return []
        return [self._take(peer, msg), *self.release()]

    def release(self, lost_before: float | None = None) -> list[tuple[str, Message]]:
        """Held messages that may go now: their dependency was handled, its sender is gone,
        or they were held since before `lost_before` (the message they wait on was lost)."""
        out: list[tuple[str, Message]] = []
        progress = True
        while progress:
            progress = False
            for peer, queue in list(self._held.items()):
                while queue:
                    since, msg = queue[0]
                    expired = lost_before is not None and since < lost_before
                    if not expired and not self._met(msg.get("dep")):
                        break
                    queue.popleft()
                    out.append(self._take(peer, msg))
                    progress = True
                if not queue:
                    del self._held[peer]
        return out

    def forget(self, peer: str) -> list[tuple[str, Message]]:
        """A peer is gone: drop its held messages; release those that waited on it."""
        self._handled.pop(peer, None)
        self._held.pop(peer, None)
        return self.release()

    def _take(self, peer: str, msg: Message) -> tuple[str, Message]:
        self._handled[peer] = msg["n"]
        return peer, msg

    def _met(self, dep: Any) -> bool:
        if not (isinstance(dep, list) and len(dep) == 2 and isinstance(dep[1], int)):
            return True
        peer, number = dep
        return not self._alive(peer) or self._handled.get(peer, 0) >= number
