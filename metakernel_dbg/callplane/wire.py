"""Wire format of the call plane: signed, replay-protected JSON messages.

The call plane is the ZMQ path between the meta-kernel's router and the runtime in every
child kernel, plus the direct lines between linked kernels (see `transport.py`). Like
Jupyter's own Session, every message is signed with HMAC-SHA256, but each child gets its
own key (derived from the meta-kernel's random master key and the child's instance id;
a direct line's keys from the callee's key and the caller's id), so one child cannot speak
for another, and every message carries a strictly increasing counter, so a captured
message cannot be replayed.

Sans-IO and standard library only: imported inside child kernels, and free of sockets
(tests/test_layout.py checks that).
"""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any

#: Messages larger than this are refused by both ends (configurable on the router).
DEFAULT_MAX_MESSAGE = 64 * 1024 * 1024
_SIG = 32  # bytes of an HMAC-SHA256 digest, at the start of every frame
_HEAD = _SIG + 4  # ... followed by the header's length
#: payloads up to this size travel inside the header's frame (one copy less to send)
INLINE_PAYLOAD = 16 * 1024
#: bytes of a call's arguments a trace span keeps (larger ones become a truncation marker)
ARGS_PREVIEW = 4096


def child_key(master: bytes, instance_id: str) -> bytes:
    """The key one child uses; derived so the router needs to store only the master."""
    return hmac.new(master, b"child:" + instance_id.encode(), hashlib.sha256).digest()


def link_keys(callee_key: bytes, caller_id: str) -> tuple[bytes, bytes]:
    """Keys of a direct caller -> callee link: (call direction, return direction).

    The callee derives them from its own key and the caller's id; the router hands them to
    the caller with the link. Two keys, so neither side's messages can be reflected back.
    """
    pair = hmac.new(callee_key, b"link:" + caller_id.encode(), hashlib.sha256).digest()
    return (
        hmac.new(pair, b"call", hashlib.sha256).digest(),
        hmac.new(pair, b"back", hashlib.sha256).digest(),
    )


#: key of a message's bulk payload (arguments or a result: JSON bytes, sent as a second
#: frame that the router forwards untouched; the signed header carries its digest)
PAYLOAD = "$payload"


def digest(payload: bytes) -> str:
    return hashlib.blake2b(payload, digest_size=16).hexdigest()


class Channel:
    """Signs outgoing and verifies incoming messages for one peer (one key, two counters).

    A message is one frame, signature + JSON header, plus an optional payload frame whose
    digest is in the header: the router can forward a payload without reading it, and the
    final receiver checks it (`verify_payload`).
    """

    __slots__ = ("_key", "_recv_key", "_sent", "_seen", "_verify_payload")

    def __init__(
        self, key: bytes, verify_payload: bool = True, recv_key: bytes | None = None
    ) -> None:
        self._key = key
        self._recv_key = recv_key or key
        self._sent = 0
        self._seen = 0
        self._verify_payload = verify_payload

    @property
    def next_number(self) -> int:
        """The counter the next packed message will carry (to name it before it is sent)."""
        return self._sent + 1

    def pack(self, msg: dict[str, Any]) -> list[bytes]:
        """Serialise and sign; raises TypeError/ValueError for values JSON cannot carry.

        Frame: signature (32) + header length (4) + header [+ a small payload]; a large
        payload goes in a second frame, which the router forwards without copying.
        """
        payload = msg.pop(PAYLOAD, None)
        if payload is not None and "pd" not in msg:
            msg["pd"] = digest(payload)
        self._sent += 1
        msg["n"] = self._sent
        body = json.dumps(msg, separators=(",", ":"), allow_nan=False).encode()
        head = hmac.new(self._key, body, hashlib.sha256).digest() + len(body).to_bytes(4, "big")
        if payload is None:
            return [head + body]
        if len(payload) <= INLINE_PAYLOAD:
            return [head + body + payload]
        return [head + body, payload]

    def unpack(self, frames: list[bytes]) -> dict[str, Any] | None:
        """Verify and decode; None for anything forged, replayed or malformed."""
        if len(frames) not in (1, 2) or len(frames[0]) < _HEAD:
            return None
        frame = frames[0]
        size = int.from_bytes(frame[_SIG:_HEAD], "big")
        body, inline = frame[_HEAD : _HEAD + size], frame[_HEAD + size :]
        mac = hmac.new(self._recv_key, body, hashlib.sha256).digest()
        if len(body) != size or not hmac.compare_digest(frame[:_SIG], mac):
            return None
        try:
            msg = json.loads(body)
        except ValueError:
            return None
        n = msg.get("n") if isinstance(msg, dict) else None
        if not isinstance(n, int) or n <= self._seen:
            return None
        payload = frames[1] if len(frames) == 2 else (inline or None)
        if payload is not None:
            if not isinstance(msg.get("pd"), str):
                return None
            if self._verify_payload and not hmac.compare_digest(msg["pd"], digest(payload)):
                return None
            msg[PAYLOAD] = payload
        self._seen = n
        return msg
