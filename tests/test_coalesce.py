"""StreamCoalescer: fewer stream messages, the order of all output kept (plain data)."""

from __future__ import annotations

from typing import Any

from metakernel_dbg.kernel.coalesce import StreamCoalescer


class Recorder:
    def __init__(self) -> None:
        self.sent: list[tuple[str, Any]] = []
        self.timers: list[Any] = []

    def emit(self, msg_type: str, content: dict, metadata: Any, buffers: Any) -> None:
        self.sent.append((msg_type, content.get("text", content)))

    def schedule(self, delay: float, fn: Any) -> None:
        self.timers.append(fn)


def make(limit: int = 65536) -> tuple[StreamCoalescer, Recorder]:
    rec = Recorder()
    return StreamCoalescer(rec.emit, rec.schedule, limit=limit), rec


def out(text: str, name: str = "stdout") -> dict:
    return {"name": name, "text": text}


def test_pieces_of_one_stream_become_one_message_when_the_timer_fires() -> None:
    c, rec = make()
    for i in range(1000):
        c.publish("stream", out(f"line {i}\n"))
    assert rec.sent == [] and len(rec.timers) == 1, "one timer for the whole batch"
    rec.timers[0]()
    assert rec.sent == [("stream", "".join(f"line {i}\n" for i in range(1000)))]


def test_another_stream_or_message_flushes_first_so_the_order_holds() -> None:
    c, rec = make()
    c.publish("stream", out("a"))
    c.publish("stream", out("b"))
    c.publish("stream", out("E", "stderr"))
    c.publish("execute_result", {"data": {"text/plain": "9"}})
    c.publish("stream", out("c"))
    c.flush()
    assert rec.sent == [
        ("stream", "ab"),
        ("stream", "E"),
        ("execute_result", {"data": {"text/plain": "9"}}),
        ("stream", "c"),
    ]


def test_a_full_buffer_goes_at_once() -> None:
    c, rec = make(limit=10)
    c.publish("stream", out("12345"))
    c.publish("stream", out("67890"))
    assert rec.sent == [("stream", "1234567890")]


def test_flush_with_nothing_held_sends_nothing_and_a_stale_timer_is_harmless() -> None:
    c, rec = make()
    c.publish("stream", out("x"))
    c.flush()
    rec.timers[0]()  # fires after the explicit flush
    c.flush()
    assert rec.sent == [("stream", "x")]


def test_stream_messages_with_metadata_are_not_merged() -> None:
    c, rec = make()
    c.publish("stream", out("a"))
    c.publish("stream", out("b"), metadata={"k": 1})
    assert rec.sent == [("stream", "a"), ("stream", "b")]
