"""Fewer, larger stream messages: consecutive output of one stream is joined before it is sent.

A render can print from thousands of calls a second, each call's output arriving on its
own. One IOPub message per piece floods a frontend, and a PUB socket drops what a slow
subscriber cannot take in time (its high-water mark). ipykernel's own `OutStream` batches
prints the same way. Text of one stream is held for at most `delay` seconds or `limit`
characters; anything else published flushes it first, so the order of all output holds.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

Emit = Callable[[str, dict[str, Any], Any, Any], None]  # msg_type, content, metadata, buffers
Schedule = Callable[[float, Callable[[], None]], None]


def timer(delay: float, fn: Callable[[], None]) -> None:
    """A `Schedule` on a daemon timer thread (publishing may come from any thread)."""
    t = threading.Timer(delay, fn)
    t.daemon = True
    t.start()


class StreamCoalescer:
    """Thread-safe: `publish` from any thread; `emit` is called under a lock, in order."""

    def __init__(
        self, emit: Emit, schedule: Schedule = timer, delay: float = 0.05, limit: int = 65536
    ) -> None:
        self._emit = emit
        self._schedule = schedule
        self._delay = delay
        self._limit = limit
        self._lock = threading.RLock()
        self._name: str | None = None
        self._parts: list[str] = []
        self._size = 0
        self._scheduled = False

    def publish(
        self, msg_type: str, content: dict[str, Any], metadata: Any = None, buffers: Any = None
    ) -> None:
        with self._lock:
            if msg_type == "stream" and not metadata and not buffers:
                name = content.get("name")
                if name != self._name:
                    self._flush()
                    self._name = name
                self._parts.append(str(content.get("text", "")))
                self._size += len(self._parts[-1])
                if self._size >= self._limit:
                    self._flush()
                elif not self._scheduled:
                    self._scheduled = True
                    self._schedule(self._delay, self.flush)
                return
            self._flush()
            self._emit(msg_type, content, metadata, buffers)

    def flush(self) -> None:
        """Send what is held (at the end of a cell, and from the timer)."""
        with self._lock:
            self._scheduled = False
            self._flush()

    def _flush(self) -> None:
        if self._parts:
            text = "".join(self._parts)
            self._parts.clear()
            self._size = 0
            self._emit("stream", {"name": self._name, "text": text}, None, None)
