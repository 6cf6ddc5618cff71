"""The JS runtime's pure parts against their Python twins, byte for byte: the call plane's
wire format (signatures, counters, payload digests, direct-line framing), the pure-JS
BLAKE2b against hashlib, and the tagged values codec. A node process runs the JS side."""

from __future__ import annotations

import json
import math
import socket
import subprocess
from pathlib import Path
from typing import Any

import pytest

from metakernel_dbg.callplane import values
from metakernel_dbg.callplane.local import StreamReader, write_message
from metakernel_dbg.callplane.wire import PAYLOAD, Channel, child_key, digest, link_keys

LIB = Path(__file__).resolve().parent.parent / "metakernel_dbg" / "runtimes" / "js" / "lib"

PEER = Path(__file__).resolve().parent / "js_peer.cjs"


class Node:
    def __init__(self) -> None:
        self.proc = subprocess.Popen(
            ["node", str(PEER), str(LIB)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )

    def __call__(self, op: str, *args: Any) -> Any:
        assert self.proc.stdin and self.proc.stdout
        self.proc.stdin.write(json.dumps({"op": op, "args": list(args)}) + "\n")
        self.proc.stdin.flush()
        reply = json.loads(self.proc.stdout.readline())
        assert "error" not in reply, reply["error"]
        return reply["ok"]

    def close(self) -> None:
        self.proc.stdin.close()  # type: ignore[union-attr]
        self.proc.wait(timeout=10)


@pytest.fixture(scope="module")
def node():
    js = Node()
    yield js
    js.close()


def _data(n: int, seed: int = 1) -> bytes:
    return bytes((i * 31 + seed * 7 + (i >> 8)) & 0xFF for i in range(n))


@pytest.mark.parametrize("size", [0, 1, 3, 127, 128, 129, 255, 256, 1000, 16384, 65543])
def test_blake2b_matches_hashlib(node: Node, size: int) -> None:
    import hashlib

    data = _data(size, size)
    assert node("digest", data.hex(), 16) == digest(data)
    assert node("digest", data.hex(), 64) == hashlib.blake2b(data).hexdigest()


def test_link_keys_match(node: Node) -> None:
    key = child_key(b"m" * 32, "fn-1")
    assert node("linkKeys", key.hex(), "caller-9") == [k.hex() for k in link_keys(key, "caller-9")]


MESSAGES = [
    ({"k": "hello", "direct": "/tmp/d-fn-1"}, None),
    ({"k": "call", "id": 1, "fn": "f", "site": {"line": 3}}, '[[1,"é"],{}]'.encode()),
    ({"k": "return", "id": 7}, b'"' + b"x" * 20000 + b'"'),  # a second frame
    ({"k": "out", "id": None, "name": "stdout", "text": "h\u00e9llo\n\u2028"}, None),
]


def test_channels_both_ways_with_replay_and_forgery_refused(node: Node) -> None:
    key = child_key(b"k" * 32, "fn-2")
    node("channel", "tx", key.hex(), None)
    node("channel", "rx", key.hex(), None)
    py_tx, py_rx = Channel(key), Channel(key)
    from_js = []
    for msg, payload in MESSAGES:
        frames = node("pack", "tx", dict(msg), payload.hex() if payload else None)
        from_js.append([bytes.fromhex(f) for f in frames])
        got = py_rx.unpack(from_js[-1])
        assert got is not None and {k: got[k] for k in msg} == msg
        assert got.get(PAYLOAD) == payload
        sent = dict(msg)
        if payload is not None:
            sent[PAYLOAD] = payload
        back = node("unpack", "rx", [f.hex() for f in py_tx.pack(sent)])
        assert back is not None and {k: back[k] for k in msg} == msg
        assert back.get(PAYLOAD) == (payload.hex() if payload else None)
    assert py_rx.unpack(from_js[0]) is None, "a replayed message is refused"
    forged = bytearray(from_js[1][0])
    forged[-1] ^= 1  # the inline payload: its digest no longer matches
    node("channel", "late", key.hex(), None)
    assert Channel(key).unpack([bytes(forged)]) is None
    assert node("unpack", "late", [bytes(forged).hex()]) is None
    assert node("unpack", "late", [from_js[1][0].hex()]) is not None
    other = child_key(b"k" * 32, "fn-3")
    assert Channel(other).unpack(from_js[0]) is None, "another child's key"


def test_direct_line_framing(node: Node) -> None:
    key = child_key(b"s" * 32, "fn-4")
    channel = Channel(key)
    messages = [channel.pack({**m, PAYLOAD: p} if p else dict(m)) for m, p in MESSAGES]
    a, b = socket.socketpair()
    for frames in messages:
        write_message(a, frames)
    a.close()
    stream = b""
    while chunk := b.recv(65536):
        stream += chunk
    b.close()
    assert "".join(node("frame", [f.hex() for f in m]) for m in messages) == stream.hex()
    for chunk in (1, 7, 8, 9, 4096):
        cut = node("cut", stream.hex(), chunk)
        assert [[bytes.fromhex(f) for f in m] for m in cut] == messages
    c, d = socket.socketpair()
    c.sendall(bytes.fromhex(node("frame", [f.hex() for f in messages[2]])))
    c.close()
    assert StreamReader(d, 1 << 20).read() == messages[2]
    d.close()


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        ([1, "é", None, True, 2.5], [1, "é", None, True, 2.5]),
        ((1, (2, 3)), [1, [2, 3]]),
        ({"a": {"b": [1]}}, {"a": {"b": [1]}}),
        ({1: "x", None: "y"}, ["Map", [[1, "x"], [None, "y"]]]),
        ({"$k": 1}, ["Map", [["$k", 1]]]),
        ({(1, 2): "t"}, ["Map", [[[1, 2], "t"]]]),
        ([math.inf, -math.inf], ["Infinity", "-Infinity"]),
    ],
)
def test_values_python_to_js_and_back(node: Node, value: Any, shown: Any) -> None:
    payload = values.encode_value(value, "v")
    assert node("describe", payload.hex()) == shown
    back = values.decode(bytes.fromhex(node("echo", payload.hex())))
    expected = values.decode(values.encode_value(value, "v"))
    if isinstance(value, tuple):
        expected = json.loads(json.dumps(value))  # JS has no tuple: it comes back a list
    assert back == expected


def test_nan_survives_the_round_trip(node: Node) -> None:
    back = values.decode(bytes.fromhex(node("echo", values.encode_value(math.nan, "v").hex())))
    assert math.isnan(back)


@pytest.mark.parametrize(
    ("code", "message"),
    [
        ("new Set([1])", 'call("f"): args[0]: Set cannot travel'),
        ("({a: [1, 2n]})", 'call("f"): args[0]["a"][1]: bigint cannot travel'),
        ("(() => 1)", 'call("f"): args[0]: function cannot travel'),
        ("new Date(0)", 'call("f"): args[0]: Date cannot travel'),
        ("(() => { const a = []; a.push(a); return a; })()", "args[0][0]: a cycle cannot"),
        ("new Map([[1, Symbol('s')]])", "args[0][1]: symbol cannot travel"),
    ],
)
def test_values_js_refuses_name_their_path(node: Node, code: str, message: str) -> None:
    assert message in node("refuse", code)
