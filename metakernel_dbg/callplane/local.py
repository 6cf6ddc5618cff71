"""The local transport: everything on one host, in the meta-kernel's private 0700 directory.

The router listens on an `ipc://` socket there; each kernel's direct-line listener is a
Unix stream socket beside it (`d-<instance id>`). A plain Unix socket instead of ZMQ for
direct lines: no I/O threads to wake, so one hop costs about a third of a ZMQ hop.
Access control is the directory's mode; every message is still signed (`wire.py`).

The child side is imported inside Python child kernels: standard library and pyzmq only.
"""

from __future__ import annotations

import os
import socket
import struct
from typing import Any

from .transport import ChildSide, Endpoint, Line, Transport
from .wire import INLINE_PAYLOAD

KIND = "local"


class LocalTransport(Transport):
    """The meta side: an ipc ROUTER in `workdir` (which must be private: mode 0700)."""

    kind = KIND

    def __init__(self, workdir: str) -> None:
        self.address = f"ipc://{os.path.join(workdir, 'calls')}"

    def bind(self, sock: Any) -> str:
        old = os.umask(0o077)
        try:
            sock.bind(self.address)
        finally:
            os.umask(old)
        return self.address

    def endpoint(self, instance_id: str, peer: str | None = None) -> Endpoint:
        if peer is not None:
            raise ValueError(f"the local transport cannot reach a child on {peer}")
        return {"kind": KIND, "router": self.address}

    def close(self) -> None:
        """Nothing to release: the socket files go with the engine's private directory."""


class LocalChildSide(ChildSide):
    """The child side: DEALER over ipc, direct lines over Unix sockets in the same folder."""

    def connect_router(self, ctx: Any, identity: bytes) -> Any:
        import zmq

        sock = ctx.socket(zmq.DEALER)
        sock.setsockopt(zmq.LINGER, 0)
        sock.setsockopt(zmq.IDENTITY, identity)
        sock.connect(self.endpoint["router"])
        return sock

    def listen(self, instance_id: str) -> tuple[list[socket.socket], str]:
        folder = os.path.dirname(self.endpoint["router"][len("ipc://") :])
        address = os.path.join(folder, f"d-{instance_id}")
        return [unix_listener(address)], address

    def accept(self, listener: socket.socket, max_message: int) -> UnixLine:
        return accept_unix(listener, max_message)

    def dial(self, address: str, max_message: int) -> Line:
        if address.startswith("tcp://"):  # a kernel on another host
            from .tcp import dial

            return dial(address, max_message)
        return dial_unix(address, max_message)


def unix_listener(path: str) -> socket.socket:
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(path)
    listener.listen()
    return listener


def accept_unix(listener: socket.socket, max_message: int) -> UnixLine:
    sock, _ = listener.accept()
    return UnixLine(sock, max_message)


def dial_unix(path: str, max_message: int) -> UnixLine:
    """A line to the Unix listener at `path`; OSError if nobody listens there."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.connect(path)
    except OSError:
        sock.close()
        raise
    return UnixLine(sock, max_message)


class UnixLine:
    """A direct line on a stream socket: messages framed by their two frames' lengths."""

    __slots__ = ("sock", "reader")

    def __init__(self, sock: socket.socket, max_message: int) -> None:
        self.sock = sock
        self.reader = StreamReader(sock, max_message)

    @property
    def buffered(self) -> bool:
        return self.reader.buffered

    @property
    def pollable(self) -> int:
        return self.sock.fileno()

    def send(self, frames: list[bytes]) -> None:
        write_message(self.sock, frames)

    def recv(self) -> list[bytes]:
        return self.reader.read()  # type: ignore[return-value]

    def close(self) -> None:
        self.sock.close()


_LENGTHS = struct.Struct("!II")  # a direct-line message: the lengths of its two frames
_READ_CHUNK = 65536


def write_message(sock: socket.socket, frames: list[bytes]) -> None:
    """Send one message (one or two frames) on a direct line; OSError if the peer is gone."""
    second = frames[1] if len(frames) == 2 else b""
    head = _LENGTHS.pack(len(frames[0]), len(second))
    if len(second) > INLINE_PAYLOAD:
        sock.sendall(head + frames[0])
        sock.sendall(second)  # no copy of a large payload
    else:
        sock.sendall(head + frames[0] + second)


class StreamReader:
    """Cuts a direct line's byte stream back into messages.

    A plain Unix socket instead of ZMQ: no I/O threads to wake, so one hop costs about a
    third of a ZMQ hop. `buffered` tells whether a message may already sit in the buffer
    (a poll on the socket would not report it).
    """

    __slots__ = ("_sock", "_buf", "_max")

    def __init__(self, sock: socket.socket, max_message: int) -> None:
        self._sock = sock
        self._buf = bytearray()
        self._max = max_message

    @property
    def buffered(self) -> bool:
        return bool(self._buf)

    def read(self) -> list[bytes | bytearray]:
        """The next message (blocks until it is whole); EOFError once the peer closed,
        ValueError for a message over the size limit."""
        first, second = _LENGTHS.unpack(self._take(_LENGTHS.size))
        if first + second > self._max:
            raise ValueError(f"message of {first + second} bytes is over the limit")
        frame = self._take(first)
        return [frame, self._take(second)] if second else [frame]

    def _take(self, size: int) -> bytes | bytearray:
        while len(self._buf) < size and size - len(self._buf) <= _READ_CHUNK:
            chunk = self._sock.recv(_READ_CHUNK)
            if not chunk:
                raise EOFError("the peer closed the line")
            self._buf += chunk
        if len(self._buf) >= size:
            out = bytes(self._buf[:size])
            del self._buf[:size]
            return out
        out = bytearray(size)  # a large frame: read straight into place
        have = len(self._buf)
        out[:have] = self._buf
        self._buf.clear()
        view = memoryview(out)
        while have < size:
            got = self._sock.recv_into(view[have:])
            if not got:
                raise EOFError("the peer closed the line")
            have += got
        return out
