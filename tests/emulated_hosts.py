"""Emulated hosts for tests: Linux network namespaces the test makes and removes itself.

Each host is a network namespace with its loopback up; `link(a, b)` joins two hosts with
a veth pair and gives each end an address of a private /30 chosen at random, so traffic
only ever goes to addresses of our own namespaces. Processes run on a host through
`ip netns exec` (`spawn`, `run`); `close()` ends every process we started, then every
process still inside our namespaces, then deletes the namespaces (their veth ends go
with them), even after a failure.

Root only: `unavailable()` says why hosts cannot be made here (the test then skips).
Meant to grow (mount and PID namespaces, an sshd per host for remote kernels).
"""

from __future__ import annotations

import os
import random
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass, field
from typing import Any

_IP_TIMEOUT = 30


def _ip(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["ip", *args], capture_output=True, text=True, timeout=_IP_TIMEOUT, check=check
    )


@dataclass
class Host:
    """One emulated host: a network namespace and its address on its link."""

    name: str
    address: str = ""

    def command(self, argv: list[str]) -> list[str]:
        """`argv` run on this host."""
        return ["ip", "netns", "exec", self.name, *argv]


@dataclass
class EmulatedHosts:
    """The hosts of one test (use as a context manager; see the module docstring)."""

    tag: str = field(default_factory=lambda: f"mk{os.getpid() % 100000}r{random.randrange(100)}")
    hosts: list[Host] = field(default_factory=list)
    processes: list[subprocess.Popen[Any]] = field(default_factory=list)
    _links: int = 0

    @staticmethod
    def unavailable() -> str | None:
        """Why no host can be made here (None: they can)."""
        if os.geteuid() != 0:
            return "emulated hosts need root (they create network namespaces)"
        if shutil.which("ip") is None:
            return "emulated hosts need iproute2's `ip` command"
        probe = f"mkprobe{os.getpid()}"
        made = _ip("netns", "add", probe, check=False)
        if made.returncode != 0:
            return f"cannot create a network namespace: {made.stderr.strip()}"
        _ip("netns", "delete", probe, check=False)
        return None

    def __enter__(self) -> EmulatedHosts:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def add_host(self, name: str) -> Host:
        host = Host(f"{self.tag}-{name}")
        _ip("netns", "add", host.name)
        self.hosts.append(host)
        _ip("-n", host.name, "link", "set", "lo", "up")
        return host

    def link(self, a: Host, b: Host) -> None:
        """A veth pair between two hosts, one private /30 address at each end."""
        self._links += 1
        ends = (f"{self.tag}l{self._links}a", f"{self.tag}l{self._links}b")
        net = f"10.{random.randrange(200, 250)}.{random.randrange(256)}"
        _ip("link", "add", ends[0], "type", "veth", "peer", "name", ends[1])
        for host, end, last in ((a, ends[0], 1), (b, ends[1], 2)):
            _ip("link", "set", end, "netns", host.name)
            host.address = f"{net}.{last}"
            _ip("-n", host.name, "addr", "add", f"{host.address}/30", "dev", end)
            _ip("-n", host.name, "link", "set", end, "up")

    def pair(self, first: str = "a", second: str = "b") -> tuple[Host, Host]:
        """Two hosts on one link."""
        a, b = self.add_host(first), self.add_host(second)
        self.link(a, b)
        return a, b

    def spawn(self, host: Host, argv: list[str], **popen: Any) -> subprocess.Popen[Any]:
        """Start `argv` on `host` in a session of its own (ended by `close`)."""
        proc = subprocess.Popen(host.command(argv), start_new_session=True, **popen)
        self.processes.append(proc)
        return proc

    def run(self, host: Host, argv: list[str], timeout: float, **kw: Any) -> Any:
        """Run `argv` on `host` to its end (subprocess.run's result)."""
        return subprocess.run(host.command(argv), timeout=timeout, **kw)

    def pids(self, host: Host) -> list[int]:
        """Every process inside the host's namespace."""
        out = _ip("netns", "pids", host.name, check=False).stdout
        return [int(p) for p in out.split()]

    def close(self) -> None:
        """End what runs on our hosts and delete them; safe to call twice."""
        for proc in self.processes:
            if proc.poll() is None:
                _kill_group(proc.pid, signal.SIGTERM)
        deadline = time.monotonic() + 10
        for proc in self.processes:
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                _kill_group(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)
        for host in self.hosts:
            for _ in range(50):  # what escaped the groups (daemonised kernels ...)
                pids = self.pids(host)
                if not pids:
                    break
                for pid in pids:
                    _kill(pid, signal.SIGKILL)
                time.sleep(0.1)
            _ip("netns", "delete", host.name, check=False)
        self.hosts.clear()
        self.processes.clear()

    def left_over(self) -> list[str]:
        """Our namespaces that still exist (empty after `close`)."""
        listed = _ip("netns", "list", check=False).stdout.split()
        return [n for n in listed if n.startswith(f"{self.tag}-")]


def _kill_group(pid: int, sig: signal.Signals) -> None:
    try:
        os.killpg(pid, sig)
    except ProcessLookupError:
        pass


def _kill(pid: int, sig: signal.Signals) -> None:
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        pass
