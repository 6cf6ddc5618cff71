"""Shared fixtures and helpers for tests that drive the real `metakernel_dbg` kernel.

Fixtures
--------
* ``meta_kernel`` (module scope) -- one meta-kernel shared by the tests of a module.
  Its environment can be extended per module by overriding ``meta_kernel_env``.
* ``fresh_meta_kernel`` (function scope) -- a meta-kernel of its own, for tests that break
  things (interrupts, shutdown, runaway recursion).
* ``meta_kernel_factory`` (function scope) -- ``factory(env=...)`` starts more kernels; all
  are shut down at teardown.

Every fixture shuts its kernel down at teardown (``km.shutdown_kernel(now=True)``), stops
the client channels, waits for the kernel's descendants to go and kills (by pid) any that
outlive the kernel, with a warning: the tests that are about leaks assert with
:func:`assert_processes_gone`.

Helpers (import them: ``from conftest import run, ...``)
--------------------------------------------------------
* :func:`run` -- execute a cell and collect its reply and IOPub messages until idle.
* :func:`send_execute`, :func:`wait_reply`, :func:`collect_iopub` -- the same in pieces,
  for tests that act while a cell runs (interrupts, stdin).
* :func:`shell_request` -- complete/inspect/is_complete/history/kernel_info with reply.
* :func:`iopub_log` -- every IOPub message the helpers read on a client (arrival order).
* :func:`child_processes` / :func:`assert_processes_gone` -- the process-leak check.
* :func:`stream_text`, :func:`errors_of`, :func:`result_text`, :func:`strip_ansi`.
"""

from __future__ import annotations

import os
import queue
import re
import tempfile
import time
import warnings
import weakref
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil
import pytest
from jupyter_client.blocking.client import BlockingKernelClient
from jupyter_client.manager import KernelManager

REPO = Path(__file__).resolve().parent.parent
KERNEL_NAME = "metakernel_dbg"
STARTUP_TIMEOUT = 60
LEAK_TIMEOUT = 10.0

#: IOPub message types of protocol v5 that a kernel may send as output of a request.
V5_IOPUB_TYPES = frozenset(
    {
        "status",
        "execute_input",
        "execute_result",
        "display_data",
        "update_display_data",
        "stream",
        "error",
        "clear_output",
        "comm_open",
        "comm_msg",
        "comm_close",
        "debug_event",
    }
)

_ANSI = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]")


# -- kernels ------------------------------------------------------------------------------
@dataclass
class MetaKernelHandle:
    """A started meta-kernel: its manager, a blocking client and its process."""

    km: KernelManager
    kc: BlockingKernelClient
    #: the meta-kernel's own process, captured at start (psutil checks pid reuse)
    process: psutil.Process | None = None
    env: dict[str, str] = field(default_factory=dict)

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process else None

    def run(self, code: str, **kwargs: Any) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        return run(self.kc, code, **kwargs)

    def children(self) -> list[psutil.Process]:
        """Every live descendant of the meta-kernel (child kernels and what they spawned)."""
        return child_processes(self.process)


def start_ipc_kernel(
    kernel_name: str = KERNEL_NAME, startup_timeout: float = STARTUP_TIMEOUT, **kwargs: Any
) -> tuple[KernelManager, BlockingKernelClient]:
    """jupyter_client's `start_new_kernel`, over ipc: tests start many kernels, and a TCP port
    picked free can be taken by another process before the kernel binds it."""
    ipc = os.path.join(tempfile.mkdtemp(prefix="mkdbg-test-"), "kernel")
    km = KernelManager(kernel_name=kernel_name, transport="ipc", ip=ipc)
    km.start_kernel(**kwargs)
    kc = km.client()
    kc.start_channels()
    try:
        kc.wait_for_ready(timeout=startup_timeout)
    except RuntimeError:
        kc.stop_channels()
        km.shutdown_kernel(now=True)
        raise
    return km, kc


def start_meta_kernel(
    env: dict[str, str] | None = None,
    cwd: str | os.PathLike[str] = REPO,
    startup_timeout: float = STARTUP_TIMEOUT,
    kernel_name: str = KERNEL_NAME,
) -> MetaKernelHandle:
    """Start the meta-kernel with the test process's environment plus `env`."""
    full_env = {**os.environ, **(env or {})}
    km, kc = start_ipc_kernel(kernel_name, startup_timeout, env=full_env, cwd=str(cwd))
    pid = getattr(km.provisioner, "pid", None)
    process = None
    if pid is not None:
        try:
            process = psutil.Process(pid)
        except psutil.NoSuchProcess:
            process = None
    _IOPUB_LOGS[kc] = []
    return MetaKernelHandle(km, kc, process, dict(env or {}))


def shutdown_meta_kernel(
    handle: MetaKernelHandle, now: bool = True, leak_timeout: float = LEAK_TIMEOUT
) -> list[str]:
    """Shut the kernel down and stop its channels; describe ("pid cmdline") the descendants
    still alive `leak_timeout` s later, then kill them so that no test leaves processes."""
    procs = handle.children()
    try:
        if handle.kc.channels_running:
            handle.kc.stop_channels()
    finally:
        try:
            if handle.km.has_kernel:
                handle.km.shutdown_kernel(now=now)
        finally:
            survivors = wait_processes_gone(procs, leak_timeout)
            described = describe_processes(survivors)
            kill_processes(survivors)
    return described


def child_processes(process: psutil.Process | int | None) -> list[psutil.Process]:
    """Live descendants (recursive) of a process, as psutil objects."""
    if process is None:
        return []
    try:
        proc = process if isinstance(process, psutil.Process) else psutil.Process(process)
        return [p for p in proc.children(recursive=True) if _alive(p)]
    except psutil.NoSuchProcess:
        return []


def _alive(proc: psutil.Process) -> bool:
    try:
        return proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def wait_processes_gone(
    procs: list[psutil.Process], timeout: float = LEAK_TIMEOUT
) -> list[psutil.Process]:
    """Poll until every process has exited (zombies count as gone); return the survivors."""
    deadline = time.monotonic() + timeout
    alive = [p for p in procs if _alive(p)]
    while alive and time.monotonic() < deadline:
        time.sleep(0.1)
        alive = [p for p in alive if _alive(p)]
    return alive


def kill_processes(procs: list[psutil.Process]) -> None:
    """SIGKILL exactly these processes (by pid, checked against reuse by psutil)."""
    for proc in procs:
        try:
            proc.kill()
        except psutil.NoSuchProcess:
            pass
    psutil.wait_procs(procs, timeout=5)


def describe_processes(procs: list[psutil.Process]) -> list[str]:
    """The pid and command line of each process."""
    rows = []
    for p in procs:
        try:
            rows.append(f"{p.pid} {' '.join(p.cmdline())}")
        except psutil.Error:
            rows.append(f"{p.pid} (gone)")
    return rows


def assert_processes_gone(procs: list[psutil.Process], timeout: float = LEAK_TIMEOUT) -> None:
    """The process-leak check: every process of `procs` exits within `timeout` seconds.

    Survivors are killed after the check has failed, so that a leak does not outlive the test.
    """
    survivors = wait_processes_gone(procs, timeout)
    if survivors:
        text = "; ".join(describe_processes(survivors))
        kill_processes(survivors)
        raise AssertionError(
            f"{len(survivors)} process(es) still alive after {timeout:g} s: {text}"
        )


def _teardown(handle: MetaKernelHandle) -> None:
    leaked = shutdown_meta_kernel(handle, now=True)
    if leaked:
        warnings.warn(
            f"meta-kernel pid {handle.pid}: {len(leaked)} descendant(s) outlived its shutdown "
            f"by {LEAK_TIMEOUT:g} s and were killed: {'; '.join(leaked)}",
            stacklevel=1,
        )


@pytest.fixture(scope="module")
def meta_kernel_env() -> dict[str, str]:
    """Extra environment of the module's meta-kernel (override in a test module)."""
    return {}


@pytest.fixture(scope="module")
def meta_kernel(meta_kernel_env: dict[str, str]) -> Iterator[MetaKernelHandle]:
    """One meta-kernel for the whole module."""
    handle = start_meta_kernel(env=meta_kernel_env)
    try:
        yield handle
    finally:
        _teardown(handle)


@pytest.fixture
def meta_kernel_factory(
    meta_kernel_env: dict[str, str],
) -> Iterator[Callable[..., MetaKernelHandle]]:
    """`factory(env=None)`: start meta-kernels that are all shut down after the test."""
    handles: list[MetaKernelHandle] = []

    def factory(env: dict[str, str] | None = None, **kwargs: Any) -> MetaKernelHandle:
        handle = start_meta_kernel(env={**meta_kernel_env, **(env or {})}, **kwargs)
        handles.append(handle)
        return handle

    try:
        yield factory
    finally:
        for handle in reversed(handles):
            _teardown(handle)


@pytest.fixture
def fresh_meta_kernel(meta_kernel_factory: Callable[..., MetaKernelHandle]) -> MetaKernelHandle:
    """A meta-kernel of this test's own."""
    return meta_kernel_factory()


# -- messaging ----------------------------------------------------------------------------
_IOPUB_LOGS: weakref.WeakKeyDictionary[Any, list[dict[str, Any]]] = weakref.WeakKeyDictionary()


def iopub_log(kc: Any) -> list[dict[str, Any]]:
    """Every IOPub message read by these helpers on `kc`, whatever its parent."""
    return _IOPUB_LOGS.setdefault(kc, [])


def _remaining(deadline: float) -> float:
    left = deadline - time.monotonic()
    if left <= 0:
        raise TimeoutError("timed out waiting for the kernel")
    return left


def _parent_id(msg: dict[str, Any]) -> str | None:
    return (msg.get("parent_header") or {}).get("msg_id")


def next_iopub(kc: Any, timeout: float) -> dict[str, Any]:
    """One IOPub message (recorded in `iopub_log`); raises queue.Empty after `timeout`."""
    msg = kc.get_iopub_msg(timeout=timeout)
    iopub_log(kc).append(msg)
    return msg


def drain_iopub(kc: Any, quiet: float = 0.5, timeout: float = 10.0) -> list[dict[str, Any]]:
    """Read IOPub until nothing arrives for `quiet` seconds (at most `timeout` seconds)."""
    got: list[dict[str, Any]] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            got.append(next_iopub(kc, min(quiet, max(0.01, deadline - time.monotonic()))))
        except queue.Empty:
            break
    return got


def send_execute(
    kc: Any,
    code: str,
    *,
    silent: bool = False,
    store_history: bool = True,
    allow_stdin: bool = False,
    stop_on_error: bool = True,
    user_expressions: dict[str, str] | None = None,
) -> str:
    """Send an execute_request; returns its msg_id."""
    return kc.execute(
        code,
        silent=silent,
        store_history=store_history,
        allow_stdin=allow_stdin,
        stop_on_error=stop_on_error,
        user_expressions=user_expressions or {},
    )


def wait_reply(kc: Any, msg_id: str, timeout: float = 60, channel: str = "shell") -> dict[str, Any]:
    """The reply to `msg_id` on `channel` (other replies are skipped)."""
    deadline = time.monotonic() + timeout
    get = getattr(kc, f"get_{channel}_msg")
    while True:
        try:
            msg = get(timeout=_remaining(deadline))
        except queue.Empty:
            raise TimeoutError(f"no {channel} reply to {msg_id} within {timeout} s") from None
        if _parent_id(msg) == msg_id:
            return msg


def collect_iopub(
    kc: Any,
    msg_id: str,
    timeout: float = 60,
    until: Callable[[dict[str, Any]], bool] | None = None,
    into: list[dict[str, Any]] | None = None,
) -> list[dict[str, Any]]:
    """IOPub messages parented to `msg_id` until `until(msg)` is true (default: idle)."""
    if until is None:
        until = is_idle
    got = into if into is not None else []
    deadline = time.monotonic() + timeout
    while True:
        try:
            msg = next_iopub(kc, _remaining(deadline))
        except queue.Empty:
            raise TimeoutError(
                f"IOPub of {msg_id} did not finish within {timeout} s; got "
                f"{[m['msg_type'] for m in got]}"
            ) from None
        if _parent_id(msg) != msg_id:
            continue
        got.append(msg)
        if until(msg):
            return got


def is_idle(msg: dict[str, Any]) -> bool:
    return msg["msg_type"] == "status" and msg["content"].get("execution_state") == "idle"


def run(
    kc: Any,
    code: str,
    timeout: float = 60,
    **kwargs: Any,
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Execute `code`; return (execute_reply content, IOPub messages of the request).

    The IOPub messages are those parented to the request, busy first and idle last.
    Keyword arguments go to :func:`send_execute`.
    """
    deadline = time.monotonic() + timeout
    msg_id = send_execute(kc, code, **kwargs)
    reply = wait_reply(kc, msg_id, _remaining(deadline))
    msgs = collect_iopub(kc, msg_id, _remaining(deadline))
    return reply["content"], msgs


def shell_request(kc: Any, method: str, *args: Any, timeout: float = 30, **kwargs: Any) -> dict:
    """`kc.<method>(...)` (complete, inspect, is_complete, history, kernel_info) -> reply msg."""
    msg_id = getattr(kc, method)(*args, **kwargs)
    return wait_reply(kc, msg_id, timeout)


# -- reading outputs ------------------------------------------------------------------------
def strip_ansi(text: str) -> str:
    return _ANSI.sub("", text)


def stream_text(msgs: list[dict[str, Any]], name: str = "stdout") -> str:
    """The concatenated text of the `name` stream, in arrival order."""
    return "".join(
        m["content"]["text"]
        for m in msgs
        if m["msg_type"] == "stream" and m["content"]["name"] == name
    )


def errors_of(msgs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [m for m in msgs if m["msg_type"] == "error"]


def traceback_text(error: dict[str, Any]) -> str:
    """An error message's (or content's) traceback as plain text."""
    content = error.get("content", error)
    return strip_ansi("\n".join(content.get("traceback", [])))


def result_text(msgs: list[dict[str, Any]]) -> str | None:
    """text/plain of the request's execute_result, or None."""
    for m in msgs:
        if m["msg_type"] == "execute_result":
            return m["content"]["data"].get("text/plain")
    return None


def expect_ok(reply: dict[str, Any], msgs: list[dict[str, Any]]) -> None:
    """Fail with the cell's error text unless the reply is ok."""
    if reply.get("status") != "ok":
        tb = "\n".join(traceback_text(e) for e in errors_of(msgs)) or traceback_text(reply)
        pytest.fail(f"cell failed: {reply.get('ename')}: {reply.get('evalue')}\n{tb}")
