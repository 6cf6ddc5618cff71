"""PID 1 of one emulated host (started by hosts.sh inside the host's own PID namespace).

A PID namespace lives exactly as long as its PID 1, so this process *is* the host: while it
runs, `nsenter -t <its outer pid> -n -m -u -i -p` enters the host, and killing it (SIGKILL
from outside) makes the kernel kill every process of the host at once.

Its only job is the one an init has: reap every process that ends up re-parented to it
(kernels started with `nohup ... &` over ssh become its children once the ssh session's shell
exits), so that exited processes do not linger as zombies and `ps` on the host shows only
what really runs. SIGTERM (from inside the host or from outside) ends the host gracefully:
everything gets SIGTERM, then SIGKILL after a grace period.

Standard library only; any Python 3 runs it. Usage: host_init.py HOSTNAME (for ps / checks).
"""

from __future__ import annotations

import os
import signal
import sys
import time

GRACE = 2.0  # seconds between SIGTERM and SIGKILL on a graceful stop


def reap() -> None:
    """Collect every exited child (ours or adopted) without blocking."""
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def stop(signum: int, _frame: object) -> None:
    """End the host: every process in this PID namespace, then ourselves."""
    try:
        os.kill(-1, signal.SIGTERM)  # -1 from PID 1: all processes of the namespace but us
    except ProcessLookupError:
        pass
    deadline = time.monotonic() + GRACE
    while time.monotonic() < deadline:
        reap()
        try:
            os.kill(-1, 0)
        except ProcessLookupError:
            break
        time.sleep(0.05)
    try:
        os.kill(-1, signal.SIGKILL)
    except ProcessLookupError:
        pass
    reap()
    os._exit(0)


def main() -> None:
    if os.getpid() != 1:
        sys.exit("host_init.py must run as PID 1 of a new PID namespace")
    # PID 1 gets only the signals it has handlers for, so these handlers are what make the
    # host stoppable with SIGTERM; SIGKILL from the parent namespace always works.
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGCHLD, lambda *_: reap())
    while True:
        reap()  # also covers a SIGCHLD that arrived between two sleeps
        time.sleep(5)


if __name__ == "__main__":
    main()
