"""`metakernel-dbg remote-spec`: a kernelspec whose kernels run on other hosts, over SSH.

The spec names the `metakernel-dbg-ssh` provisioner (`remote.py`) and the hosts; its argv
runs `metakernel_dbg.launch.remotekernel` with the remote host's interpreter by absolute
path (nothing replaces `python` there), and it declares CurveZMQ support, which the
provisioner requires. Every host needs that interpreter with `metakernel_dbg[remote]`
installed, an sshd that accepts the meta-kernel user's key, and a known host key on the
meta-kernel's host.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

from ..kernel.install import RESOURCES, install_spec

PROVISIONER = "metakernel-dbg-ssh"
#: the launcher's own log level (its log is what a dead kernel's report shows)
LAUNCHER_LOG_LEVEL = "WARNING"


def remote_kernel_dict(
    hosts: list[str],
    python: str,
    display_name: str | None = None,
    launch_timeout: int = 30,
    bootstrap_timeout: float = 60.0,
    env: dict[str, str] | None = None,
) -> dict[str, Any]:
    """kernel.json of a kernelspec that starts kernels on `hosts` (round robin)."""
    if not os.path.isabs(python):
        raise ValueError(f"the remote interpreter must be an absolute path, not {python!r}")
    if not hosts:
        raise ValueError("name at least one host")
    return {
        "argv": [
            python,
            "-m",
            "metakernel_dbg.launch.remotekernel",
            "--bootstrap-timeout",
            f"{bootstrap_timeout:g}",
            "--kernel-id",
            "{kernel_id}",
            "--port-range",
            "{port_range}",
            "--response-address",
            "{response_address}",
            "--public-key",
            "{public_key}",
            "--transport-encryption",
            "{transport_encryption}",
        ],
        "env": {"LOG_LEVEL": LAUNCHER_LOG_LEVEL, **(env or {})},
        "display_name": display_name or f"Python on {', '.join(hosts)} (SSH)",
        "language": "python",
        "interrupt_mode": "signal",
        "metadata": {
            "debugger": True,
            "supported_encryption": ["curve"],
            "kernel_provisioner": {
                "provisioner_name": PROVISIONER,
                "config": {"remote_hosts": list(hosts), "launch_timeout": launch_timeout},
            },
        },
    }


def install_remote_spec(
    *,
    hosts: list[str],
    python: str,
    kernel_name: str,
    display_name: str | None = None,
    launch_timeout: int = 30,
    bootstrap_timeout: float = 60.0,
    env: dict[str, str] | None = None,
    **where: Any,
) -> str:
    """Install the spec (`where`: user / prefix / sys_prefix); the directory it went to."""
    spec = remote_kernel_dict(hosts, python, display_name, launch_timeout, bootstrap_timeout, env)

    def write(path: Path) -> None:
        path.mkdir(parents=True)
        for logo in RESOURCES.glob("logo-*"):
            shutil.copy(logo, path)
        (path / "kernel.json").write_text(json.dumps(spec, indent=1) + "\n", encoding="utf-8")

    return install_spec(write, kernel_name, **where)
