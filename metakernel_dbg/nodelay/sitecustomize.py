"""Put on the PYTHONPATH of child kernels: TCP_NODELAY on every TCP socket they open.

pydevd and the debugpy adapter write each DAP message with two `sendall()` calls; with
Nagle's algorithm on, the receiver's delayed ACK stalls every back-to-back request by
~40 ms. Children inherit this module through PYTHONPATH, and so do their debugpy adapters.
"""

import socket

_connect, _accept = socket.socket.connect, socket.socket.accept


def _nodelay(sock: socket.socket) -> None:
    if sock.family in (socket.AF_INET, socket.AF_INET6) and sock.type == socket.SOCK_STREAM:
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError:
            pass


def connect(self: socket.socket, address: object) -> None:
    _connect(self, address)
    _nodelay(self)


def accept(self: socket.socket) -> tuple:
    conn, addr = _accept(self)
    _nodelay(conn)
    return conn, addr


socket.socket.connect = connect  # type: ignore[method-assign]
socket.socket.accept = accept  # type: ignore[method-assign]
