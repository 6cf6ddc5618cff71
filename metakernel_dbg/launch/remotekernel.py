"""What runs on a remote host: gateway_provisioners' Python launcher with our kernel class.

`PYTHON -m metakernel_dbg.launch.remotekernel [--bootstrap-timeout S] LAUNCHER-ARGS` (the
argv `metakernel-dbg remote-spec` writes) runs `launch_ipykernel.py` of the
gateway_provisioners installed on that host (no launcher scripts to copy there), with:

- `RemoteIPythonKernel`: a shutdown does not hang ~30 s on the launcher's listener. The
  launcher forks the listener as a child of the kernel; on a shutdown_request ipykernel 7
  signals its children and waits, with back-off, until psutil lists none, and the listener,
  exited but never reaped, is a zombie it keeps listing (posit-dev/positron#3381 is the
  same stall). Zombies are reaped and skipped here.
- A start-up watchdog: a kernel whose meta-kernel never bootstrapped it (it was killed
  during the start) exits after `--bootstrap-timeout` seconds; from its bootstrap on, the
  lease keeps it (`callplane/lease.py`).
- The child site of local children (`launch/childsite`: TCP_NODELAY, debugpy adapters that
  exit with their kernel).
- A listener that ends quietly once its kernel is gone (GP's dies on its next request with
  a ProcessLookupError traceback at the end of the kernel's log, where the report of a
  dead kernel looks for its last words).
"""

from __future__ import annotations

import argparse
import os
import runpy
import sys
import threading
from pathlib import Path

from ipykernel.ipkernel import IPythonKernel

from ..callplane import lease

CHILDSITE = Path(__file__).resolve().parent / "childsite"


class RemoteIPythonKernel(IPythonKernel):
    """IPythonKernel whose shutdown does not wait for children that have already exited."""

    def _process_children(self):  # type: ignore[no-untyped-def]
        import psutil

        alive = []
        for child in super()._process_children():
            try:
                if child.status() == psutil.STATUS_ZOMBIE:
                    try:  # ours: reap it
                        os.waitpid(child.pid, os.WNOHANG)
                    except ChildProcessError:
                        pass
                    continue
            except psutil.NoSuchProcess:
                continue
            alive.append(child)
        return alive


def _watchdog(timeout: float) -> None:
    if not lease.kept.wait(timeout):
        lease.end_process(f"no meta-kernel bootstrapped this kernel within {timeout:g} s")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m metakernel_dbg.launch.remotekernel")
    parser.add_argument("--bootstrap-timeout", type=float, default=60.0)
    ours, launcher_args = parser.parse_known_args(argv)
    paths = [str(CHILDSITE), *filter(None, [os.environ.get("PYTHONPATH")])]
    os.environ["PYTHONPATH"] = os.pathsep.join(paths)  # for what the kernel starts (debugpy)
    runpy.run_path(str(CHILDSITE / "sitecustomize.py"))
    threading.Thread(target=_watchdog, args=(ours.bootstrap_timeout,), daemon=True).start()

    import gateway_provisioners

    launchers = Path(gateway_provisioners.__file__).resolve().parent / "kernel-launchers"
    script = launchers / "python" / "scripts" / "launch_ipykernel.py"
    sys.path.insert(0, str(launchers / "shared" / "scripts"))  # its server_listener
    _quiet_listener()
    kernel_class = f"{__spec__.name if __spec__ else __name__}.RemoteIPythonKernel"
    sys.argv = [str(script), *launcher_args, "--kernel-class-name", kernel_class]
    runpy.run_path(str(script), run_name="__main__")


def _quiet_listener() -> None:
    import server_listener  # type: ignore[import-not-found]

    serve = server_listener.ServerListener.process_requests

    def process_requests(self, comm_port):  # type: ignore[no-untyped-def]
        try:
            serve(self, comm_port)
        except ProcessLookupError:  # a signal for a kernel that is gone: so is the listener
            pass

    server_listener.ServerListener.process_requests = process_requests


if __name__ == "__main__":
    main()
