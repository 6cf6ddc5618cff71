"""Emulated hosts for tests: namespaces with their own network, mounts, pids and sshd.

The privileged work is done by `hosts.sh` next to this file (its header explains the
design); this is its Python face, usable by any test or tool that needs a few "machines":

    reason = unavailable()            # None when this process can make hosts (root, tools)
    with Hosts(("A", "B", "C"), sshd=("B", "C")) as hosts:
        hosts.run("A", ["ssh", "B", "hostname"])          # a command inside host A
        hosts.processes("B")                               # what runs in B (outer pids)

Every set of hosts has its own namespace prefix (`mk<pid>-`), so parallel test runs never
meet; the hosts are removed on `close()` (also on failure: use `with`), and a set whose
owning process died without removing it is removed by the next `Hosts()` (`reap_stale`).
Hosts without sshd need no Debian packages; `sshd=()` gives network namespaces with their
own /tmp and pids only.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NamedTuple

import psutil

HERE = Path(__file__).resolve().parent
SCRIPT = HERE / "hosts.sh"
RUN = HERE / "run"  # state of every set (on the shared filesystem: the hosts write there)
CACHE = HERE / ".cache" / "openssh"
SUBNET = "10.250.17"
_CAP_SYS_ADMIN, _CAP_NET_ADMIN = 21, 12
_TOOLS = ("ip", "nsenter", "unshare", "setsid", "flock")
_SSH_TOOLS = ("ssh", "ssh-keygen")


class HostProcess(NamedTuple):
    """A process of an emulated host: its pid here, its pid on the host, its command line."""

    pid: int
    host_pid: int
    cmdline: str


def unavailable(sshd: bool = True) -> str | None:
    """Why emulated hosts cannot be made by this process (None: they can)."""
    if sys.platform != "linux":
        return "emulated hosts need Linux namespaces"
    if os.geteuid() != 0:
        return "emulated hosts need root (network, mount and PID namespaces)"
    caps = _effective_caps()
    for bit, name in ((_CAP_NET_ADMIN, "CAP_NET_ADMIN"), (_CAP_SYS_ADMIN, "CAP_SYS_ADMIN")):
        if not caps >> bit & 1:
            return f"emulated hosts need {name}"
    tools = _TOOLS + (_SSH_TOOLS if sshd else ())
    missing = [t for t in tools if shutil.which(t) is None]
    if sshd and not (CACHE / "root" / "usr" / "sbin" / "sshd").exists():
        missing += [t for t in ("apt-get", "dpkg") if shutil.which(t) is None]
    if missing:
        return f"emulated hosts need {', '.join(missing)} (openssh-client, iproute2, util-linux)"
    return None


def _effective_caps() -> int:
    with open("/proc/self/status", encoding="ascii") as f:
        for line in f:
            if line.startswith("CapEff:"):
                return int(line.split()[1], 16)
    return 0


class Hosts:
    """A set of emulated hosts, up from construction until `close()`."""

    def __init__(
        self,
        names: Sequence[str] = ("A", "B", "C"),
        sshd: Sequence[str] = ("B", "C"),
        prefix: str | None = None,
    ) -> None:
        self.names = tuple(names)
        self.sshd = tuple(sshd)
        self.prefix = prefix or f"mk{os.getpid()}-"
        self.state = RUN / self.prefix.rstrip("-")
        self.reap_stale()
        self.state.mkdir(parents=True, exist_ok=True)
        (self.state / "owner").write_text(f"{os.getpid()} {' '.join(self.names)}")
        self._script("down")  # a leftover of an earlier run with the same prefix
        try:
            self._script("up")
        except BaseException:
            self.close()
            raise

    # -- lifecycle ---------------------------------------------------------------------
    def close(self) -> None:
        """Remove every process and namespace of the set (idempotent)."""
        if self.state.exists():
            self._script("down")
            shutil.rmtree(self.state, ignore_errors=True)

    def __enter__(self) -> Hosts:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @classmethod
    def reap_stale(cls) -> None:
        """Remove the sets whose owning process is gone (a test run that was killed)."""
        if not RUN.is_dir():
            return
        for state in RUN.iterdir():
            owner = state / "owner"
            try:
                pid, *names = owner.read_text().split()
                alive = psutil.pid_exists(int(pid))
            except (OSError, ValueError):
                continue
            if not alive:
                env = _env(state.name + "-", state, names, ())
                subprocess.run(["bash", str(SCRIPT), "down"], env=env, capture_output=True)
                shutil.rmtree(state, ignore_errors=True)

    # -- using the hosts ---------------------------------------------------------------
    @property
    def env(self) -> dict[str, str]:
        """The environment under which hosts.sh addresses this set."""
        return _env(self.prefix, self.state, self.names, self.sshd)

    def addr(self, host: str) -> str:
        return f"{SUBNET}.{self.names.index(host) + 1}"

    def command(self, host: str, argv: Sequence[str]) -> list[str]:
        """The argv that runs `argv` inside `host`."""
        return ["bash", str(SCRIPT), "exec", host, *argv]

    def run(self, host: str, argv: Sequence[str], timeout: float = 60, **kw: Any):
        """Run a command inside `host` (subprocess.run; text, output captured)."""
        kw.setdefault("capture_output", True)
        kw.setdefault("text", True)
        env = {**self.env, **kw.pop("env", {})}
        return subprocess.run(self.command(host, argv), env=env, timeout=timeout, **kw)

    def popen(self, host: str, argv: Sequence[str], **kw: Any) -> subprocess.Popen:
        return subprocess.Popen(
            self.command(host, argv), env={**self.env, **kw.pop("env", {})}, **kw
        )

    def init_pid(self, host: str) -> int:
        """The outer pid of `host`'s init (nsenter -t PID enters the host)."""
        return int((self.state / f"{host}.pid").read_text())

    def processes(self, host: str) -> list[HostProcess]:
        """Every process in `host`'s PID namespace but its init."""
        init = self.init_pid(host)
        namespace = os.readlink(f"/proc/{init}/ns/pid")
        found = []
        for entry in os.listdir("/proc"):
            if not entry.isdigit() or int(entry) == init:
                continue
            try:
                if os.readlink(f"/proc/{entry}/ns/pid") != namespace:
                    continue
                with open(f"/proc/{entry}/cmdline", "rb") as f:
                    cmdline = f.read().replace(b"\0", b" ").decode(errors="replace").strip()
                with open(f"/proc/{entry}/status", encoding="ascii", errors="replace") as f:
                    nspid = next(line for line in f if line.startswith("NSpid:"))
            except (OSError, StopIteration):  # gone meanwhile
                continue
            if cmdline:  # zombies have none
                found.append(HostProcess(int(entry), int(nspid.split()[-1]), cmdline))
        return found

    def _script(self, command: str) -> None:
        out = subprocess.run(
            ["bash", str(SCRIPT), command], env=self.env, capture_output=True, text=True
        )
        if out.returncode:
            raise RuntimeError(f"hosts.sh {command} failed: {out.stderr.strip()[-2000:]}")


def _env(prefix: str, state: Path, names: Sequence[str], sshd: Sequence[str]) -> dict[str, str]:
    home = Path(sys.base_prefix).resolve()
    shared = home.relative_to("/root").parts[0] if home.is_relative_to("/root") else ""
    return {
        **os.environ,
        "HOSTS_NAMES": " ".join(names),
        "HOSTS_SSHD": " ".join(sshd),
        "HOSTS_PREFIX": prefix,
        "HOSTS_SUBNET": SUBNET,
        "HOSTS_STATE": str(state),
        "HOSTS_CACHE": str(CACHE),
        "HOSTS_PYTHON": sys.executable,
        "HOSTS_SHARED_HOME": shared,
    }
