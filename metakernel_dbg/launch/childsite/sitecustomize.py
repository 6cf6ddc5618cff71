"""On the PYTHONPATH of child kernels (and so of their debugpy adapters).

1. TCP_NODELAY on every TCP socket. pydevd and the debugpy adapter write each DAP message
   with two `sendall()` calls; with Nagle's algorithm on, the receiver's delayed ACK
   stalls every back-to-back request by ~40 ms.
2. A kernel dies with the meta-kernel that started it, even if that was SIGKILLed.
3. A debugpy adapter daemonizes (setsid + fork) and would outlive its kernel; here it
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


def _parent_death_signal() -> bool:
    """Linux: have the kernel SIGKILL us when our parent dies (no thread needed: a kernel
    whose C++ main loop never releases the GIL, like xeus-python's, is covered too)."""
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(1, 9, 0, 0, 0) == 0  # PR_SET_PDEATHSIG, SIGKILL
    except (OSError, AttributeError):
        return False


def _alive(pid: int) -> bool:
    """False for a process that is gone or a zombie (killed, not yet reaped)."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as f:
            return f.read().rpartition(")")[2].split()[0] not in ("Z", "X")
    except OSError:
        pass
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    return True


# Popped: processes this kernel starts (user subprocesses, debugpy) are not concerned.
_meta = os.environ.pop("MKDBG_META_PID", "")
if _meta.isdigit():
    if os.getppid() == int(_meta):
        if not _parent_death_signal():
            threading.Thread(target=_die_with_meta, args=(int(_meta),), daemon=True).start()
        elif os.getppid() != int(_meta):  # the meta-kernel died before we asked
            os.kill(os.getpid(), 9)
    elif not _alive(int(_meta)):  # launched just as the meta-kernel was killed
        os.kill(os.getpid(), 9)
