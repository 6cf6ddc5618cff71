"""On the PYTHONPATH of child kernels (and so of their debugpy adapters).

1. TCP_NODELAY on every TCP socket. pydevd and the debugpy adapter write each DAP message
   with two `sendall()` calls; with Nagle's algorithm on, the receiver's delayed ACK
   stalls every back-to-back request by ~40 ms.
2. A debugpy adapter daemonizes (setsid + fork) and would outlive its kernel; here it
   watches the kernel that spawned it and exits with it.
"""

import os
import socket
import sys
import threading
import time

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


def _exit_with(kernel_pid: int) -> None:
    while True:
        time.sleep(0.5)
        try:
            os.kill(kernel_pid, 0)
        except ProcessLookupError:
            os._exit(0)
        except PermissionError:
            pass


if "--for-server" in sys.argv and hasattr(os, "register_at_fork"):
    _kernel = os.getppid()
    os.register_at_fork(
        after_in_child=lambda: threading.Thread(
            target=_exit_with, args=(_kernel,), daemon=True
        ).start()
    )


def _die_with_meta(meta: int) -> None:
    """A kernel started by the meta-kernel dies with it, even before its bootstrap ran
    (warm pool kernels, kernels still starting when the meta-kernel was killed)."""
    while os.getppid() == meta:
        time.sleep(0.5)
    os.kill(os.getpid(), 9)


_meta = os.environ.get("MKDBG_META_PID", "")
if _meta.isdigit() and os.getppid() == int(_meta):
    threading.Thread(target=_die_with_meta, args=(int(_meta),), daemon=True).start()
