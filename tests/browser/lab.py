"""Helpers that drive a real JupyterLab server and its visual debugger with Playwright.

Two halves:

* :func:`start_lab` / :class:`LabServer` -- run ``jupyter lab`` on 127.0.0.1 with a random port,
  a token and fully isolated config/data/runtime/settings/workspace directories, wait for
  ``/api/status`` and always tear down the whole process tree (server *and* the kernels it
  started, which jupyter_client puts into their own sessions).
* Playwright helpers (sync API) for the notebook + debugger UI of JupyterLab 4.6:
  :func:`open_notebook`, :func:`enable_debugger`, :func:`set_breakpoint` /
  :func:`remove_breakpoint`, :func:`run_all`, :func:`wait_for_stop`,
  :func:`wait_for_stop_or_done`, :func:`callstack_rows` / :func:`callstack_frames`,
  :func:`click_frame`, :func:`variables`, :func:`expand_variable`, :func:`press_continue`,
  :func:`step`, :func:`continue_until_done`, :func:`cell_output_text`, :func:`shot`.

Cell indices are **0-based** everywhere (``cell_index=0`` is the first cell of the notebook);
line numbers are **1-based**, like the editor's line-number gutter.

Every wait has an explicit timeout (milliseconds for Playwright helpers, seconds for the
server helpers).  Waiting for the debugger is done with DOM waits plus
:class:`DebugTraffic`, which watches the kernel websockets and knows whether every
``debug_request`` the page sent has been answered by a ``debug_reply``.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import weakref
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import psutil

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-background-networking",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]

# Default Playwright timeouts (ms).
UI_TIMEOUT = 30_000
KERNEL_TIMEOUT = 60_000

# --------------------------------------------------------------------------------------
# Selectors (JupyterLab 4.6).  Kept in one place so a future JupyterLab bump is one edit.
# --------------------------------------------------------------------------------------
#: The notebook panel in the current (visible) main-area tab.
SEL_NOTEBOOK = ".jp-NotebookPanel:not(.lm-mod-hidden)"
#: Toolbar kernel execution indicator; ``data-status`` is the kernel status.
SEL_KERNEL_STATUS = ".jp-Notebook-ExecutionIndicator"
#: The notebook toolbar's debugger toggle: ``aria-disabled="true"`` until the kernel reported
#: ``debugger: true``; ``aria-pressed="true"`` while the debugger is on.
SEL_BUG_BUTTON = "jp-button.jp-DebuggerBugButton"
SEL_DEBUGGER_SIDEBAR = "#jp-debugger-sidebar"
SEL_CALLSTACK = ".jp-DebuggerCallstack"
SEL_FRAME = ".jp-DebuggerCallstack .jp-DebuggerCallstackFrame"
SEL_FRAME_NAME = ".jp-DebuggerCallstackFrame-name"
SEL_FRAME_LOCATION = ".jp-DebuggerCallstackFrame-location"
SEL_CONTINUE = '#jp-debugger-sidebar jp-button[data-command="debugger:continue"]'
SEL_VARIABLES_BODY = ".jp-DebuggerVariables-body"
SEL_BREAKPOINT_GUTTER = ".cm-gutter.cm-breakpoint-gutter"
GUTTER_TIMEOUT = 20_000  # ms: gutters normally appear within a second of the session start
#: The marker CodeMirror draws inside the breakpoint gutter for a set breakpoint.  NB: the
#: gutter's invisible height-0 "spacer" element contains one too -- filter by visibility.
SEL_BREAKPOINT_MARKER = ".cm-gutter.cm-breakpoint-gutter .cm-gutterElement .cm-breakpoint-icon"
SEL_SIDEBAR_BREAKPOINT = ".jp-DebuggerBreakpoints .jp-DebuggerBreakpoint"
SEL_CELL = ".jp-Cell"


# ======================================================================================
# Server
# ======================================================================================


def free_port(host: str = "127.0.0.1") -> int:
    """Return a TCP port that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


@dataclass
class LabServer:
    """A running ``jupyter lab`` (see :func:`start_lab`)."""

    proc: subprocess.Popen
    port: int
    token: str
    root_dir: Path
    log_path: Path
    env: dict[str, str]
    host: str = "127.0.0.1"
    _log_file: Any = field(default=None, repr=False)

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:PORT/`` (always with a trailing slash)."""
        return f"http://{self.host}:{self.port}/"

    def url(self, path: str = "", **query: str) -> str:
        """Absolute URL for ``path`` with the token added to the query string."""
        params = "&".join([f"token={self.token}", *(f"{k}={quote(v)}" for k, v in query.items())])
        return f"{self.base_url}{path.lstrip('/')}?{params}"

    def api(self, path: str, method: str = "GET", body: Any = None, timeout: float = 10) -> Any:
        """Call the REST API (``path`` relative to ``/api/``); returns decoded JSON or None."""
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(
            f"{self.base_url}api/{path.lstrip('/')}",
            data=data,
            method=method,
            headers={"Authorization": f"token {self.token}", "Content-Type": "application/json"},
        )
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            raw = resp.read()
        return json.loads(raw) if raw else None

    def kernels(self) -> list[dict]:
        """The server's running kernels (``GET /api/kernels``)."""
        return self.api("kernels")

    def log_text(self) -> str:
        if self._log_file is not None and not self._log_file.closed:
            self._log_file.flush()
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def stop(self, timeout: float = 10) -> list[psutil.Process]:
        """Shut the server down and kill every process it started. Idempotent.

        Returns the processes that were found below the server (see :func:`survivors`).
        """
        procs = stop_process_tree(self.proc, timeout=timeout, shutdown=self._graceful_shutdown)
        if self._log_file is not None and not self._log_file.closed:
            self._log_file.close()
        return procs

    def _graceful_shutdown(self) -> None:
        # Asks the server to shut down all kernels (which lets them clean up their own
        # children, e.g. debugpy adapters) and exit.
        with contextlib.suppress(Exception):
            self.api("shutdown", method="POST", timeout=5)


def _descendants(pid: int) -> list[psutil.Process]:
    try:
        return psutil.Process(pid).children(recursive=True)
    except psutil.Error:
        return []


def stop_process_tree(
    proc: subprocess.Popen, timeout: float = 10, shutdown: Any = None
) -> list[psutil.Process]:
    """Stop ``proc`` (started with ``start_new_session=True``) and all of its descendants.

    Descendants are snapshotted *before* anything is killed: kernels live in their own
    sessions/process groups (jupyter_client launches them with ``start_new_session=True``)
    so killing the server's group alone would leak them.  Returns the snapshot.
    """
    procs = _descendants(proc.pid)
    if proc.poll() is None and shutdown is not None:
        shutdown()
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=timeout)
        # Anything spawned during shutdown is also ours.
        procs += [p for p in _descendants(proc.pid) if p not in procs]
    own_pgid = os.getpgid(0)
    pgids = {proc.pid}
    for p in procs:
        with contextlib.suppress(psutil.Error, OSError):
            pgids.add(os.getpgid(p.pid))
    pgids.discard(own_pgid)  # never signal the test runner's own process group
    for pgid in pgids:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pgid, signal.SIGKILL)
    for p in procs:
        with contextlib.suppress(psutil.Error):
            p.kill()
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=timeout)
    psutil.wait_procs(procs, timeout=timeout)
    return procs


def survivors(procs: Iterable[psutil.Process]) -> list[psutil.Process]:
    """The processes of ``procs`` that are still alive (zombies count as dead)."""
    alive = []
    for p in procs:
        with contextlib.suppress(psutil.Error):
            if p.is_running() and p.status() != psutil.STATUS_ZOMBIE:
                alive.append(p)
    return alive


def _write_json(path: Path, data: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=1))


#: Settings applied through ``labconfig/default_setting_overrides.json``.
DEFAULT_SETTING_OVERRIDES: dict[str, dict[str, Any]] = {
    # Render every cell (no virtual windowing) so off-screen cells are in the DOM.
    "@jupyterlab/notebook-extension:tracker": {"windowingMode": "none"},
    # No news / update checks.
    "@jupyterlab/apputils-extension:notification": {"fetchNews": "false", "checkForUpdates": False},
    # Don't let autosave race with tests that write notebooks through the API.
    "@jupyterlab/docmanager-extension:plugin": {"autosave": False},
}

#: Front-end plugins disabled through ``labconfig/page_config.json``.
DISABLED_EXTENSIONS = [
    "@jupyterlab/apputils-extension:announcements",
]


def start_lab(
    workdir: Path,
    *,
    kernelspecs: Iterable[Path] = (),
    jupyter_path: Iterable[Path] = (),
    root_dir: Path | None = None,
    extra_args: Iterable[str] = (),
    extra_env: dict[str, str] | None = None,
    setting_overrides: dict[str, dict[str, Any]] | None = None,
    startup_timeout: float = 60,
    attempts: int = 3,
) -> LabServer:
    """Start ``jupyter lab`` in isolation below ``workdir`` and wait until it answers.

    ``kernelspecs``: kernelspec directories (each containing ``kernel.json``); they are copied to
    ``workdir/jupyter_path/kernels/<dir name>`` which is put first on ``JUPYTER_PATH``.
    ``jupyter_path``: extra raw ``JUPYTER_PATH`` entries (directories containing ``kernels/``).
    The venv's own kernelspecs (``sys.prefix/share/jupyter/kernels``, e.g. ``python3``) are
    always visible.  ``root_dir`` defaults to ``workdir/notebooks``.
    The server log goes to ``workdir/jupyter-server.log``.
    """
    workdir = Path(workdir)
    root_dir = Path(root_dir) if root_dir is not None else workdir / "notebooks"
    root_dir.mkdir(parents=True, exist_ok=True)
    dirs = {
        name: workdir / "jupyter" / name
        for name in ("config", "data", "runtime", "user-settings", "workspaces", "path")
    }
    for d in dirs.values():
        d.mkdir(parents=True, exist_ok=True)

    for spec in kernelspecs:
        spec = Path(spec)
        if not (spec / "kernel.json").is_file():
            raise FileNotFoundError(f"{spec} is not a kernelspec directory (no kernel.json)")
        shutil.copytree(spec, dirs["path"] / "kernels" / spec.name, dirs_exist_ok=True)

    overrides = {k: dict(v) for k, v in DEFAULT_SETTING_OVERRIDES.items()}
    for plugin, values in (setting_overrides or {}).items():
        overrides.setdefault(plugin, {}).update(values)
    labconfig = dirs["config"] / "labconfig"
    _write_json(labconfig / "default_setting_overrides.json", overrides)
    _write_json(
        labconfig / "page_config.json",
        {"disabledExtensions": dict.fromkeys(DISABLED_EXTENSIONS, True)},
    )

    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("JUPYTER") and k not in ("IPYTHONDIR", "PYTHONSTARTUP")
    }
    env.update(
        JUPYTER_CONFIG_DIR=str(dirs["config"]),
        JUPYTER_DATA_DIR=str(dirs["data"]),
        JUPYTER_RUNTIME_DIR=str(dirs["runtime"]),
        JUPYTER_PATH=os.pathsep.join([str(dirs["path"]), *(str(Path(p)) for p in jupyter_path)]),
        IPYTHONDIR=str(workdir / "ipython"),
        PATH=os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")]),
        PYTHONUNBUFFERED="1",
    )
    env.update(extra_env or {})

    log_path = workdir / "jupyter-server.log"
    log_file = open(log_path, "ab")  # noqa: SIM115 - closed by LabServer.stop
    last_error = ""
    for _attempt in range(attempts):
        port = free_port()
        token = secrets.token_hex(16)
        cmd = [
            sys.executable,
            "-m",
            "jupyterlab",
            "--no-browser",
            "--ServerApp.open_browser=False",
            "--allow-root",
            "--ServerApp.ip=127.0.0.1",
            f"--ServerApp.port={port}",
            "--ServerApp.port_retries=0",
            f"--IdentityProvider.token={token}",
            f"--ServerApp.root_dir={root_dir}",
            "--ServerApp.terminals_enabled=False",
            "--LabApp.news_url=None",
            "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
            f"--LabApp.user_settings_dir={dirs['user-settings']}",
            f"--LabApp.workspaces_dir={dirs['workspaces']}",
            *extra_args,
        ]
        log_file.write(f"\n$ {' '.join(cmd)}\n".encode())
        log_file.flush()
        proc = subprocess.Popen(
            cmd,
            cwd=root_dir,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        server = LabServer(proc, port, token, root_dir, log_path, env, _log_file=log_file)
        try:
            wait_for_server(server, timeout=startup_timeout)
            return server
        except _ServerExited as exc:  # e.g. lost the port race: try another port
            last_error = str(exc)
            stop_process_tree(proc)
        except BaseException:
            server.stop()
            raise
    log_file.close()
    raise RuntimeError(f"jupyter lab failed to start {attempts} times: {last_error}")


class _ServerExited(RuntimeError):
    pass


def wait_for_server(server: LabServer, timeout: float = 60) -> dict:
    """Poll ``/api/status?token=...`` until it answers 200 (or the process dies / timeout)."""
    deadline = time.monotonic() + timeout
    url = f"{server.base_url}api/status?token={server.token}"
    last = "no attempt"
    while True:
        if server.proc.poll() is not None:
            raise _ServerExited(
                f"jupyter lab exited with {server.proc.returncode}; "
                f"log tail:\n{server.log_text()[-3000:]}"
            )
        try:
            with urllib.request.urlopen(url, timeout=2) as resp:
                if resp.status == 200:
                    return json.loads(resp.read())
                last = f"HTTP {resp.status}"
        except (urllib.error.URLError, OSError) as exc:
            last = repr(exc)
        if time.monotonic() > deadline:
            raise TimeoutError(
                f"jupyter lab not ready after {timeout}s ({last}); "
                f"log tail:\n{server.log_text()[-3000:]}"
            )
        time.sleep(0.2)  # HTTP poll interval (no browser involved yet)


@contextlib.contextmanager
def lab_server(workdir: Path, **kwargs: Any) -> Iterator[LabServer]:
    """Context-manager form of :func:`start_lab`; always stops the server."""
    server = start_lab(workdir, **kwargs)
    try:
        yield server
    finally:
        server.stop()


def write_notebook(
    path: Path, cells: Iterable[str], kernel_name: str = "python3", display_name: str = ""
) -> Path:
    """Write a minimal nbformat 4 notebook with the given code cells and kernelspec."""
    path = Path(path)
    nb = {
        "cells": [
            {
                "cell_type": "code",
                "execution_count": None,
                "id": f"cell-{i}",
                "metadata": {},
                "outputs": [],
                "source": src,
            }
            for i, src in enumerate(cells)
        ],
        "metadata": {
            "kernelspec": {
                "name": kernel_name,
                "display_name": display_name or kernel_name,
                "language": "python",
            },
            "language_info": {"name": "python"},
        },
        "nbformat": 4,
        "nbformat_minor": 5,
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(nb, indent=1))
    return path


# ======================================================================================
# Browser
# ======================================================================================


def chromium_available() -> bool:
    return os.access(CHROMIUM, os.X_OK)


def launch_chromium(playwright: Any, headless: bool = True, **kwargs: Any) -> Any:
    """Launch Debian's Chromium (never a downloaded browser)."""
    return playwright.chromium.launch(
        executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=headless, **kwargs
    )


def shot(page: Any, directory: Path, name: str) -> Path:
    """Save a PNG screenshot as ``directory/screenshots/NN-name.png`` and return its path."""
    target = Path(directory) / "screenshots"
    target.mkdir(parents=True, exist_ok=True)
    stem = name[:-4] if name.endswith(".png") else name
    path = target / f"{len(list(target.glob('*.png'))):02d}-{stem}.png"
    page.screenshot(path=str(path))
    return path


# --------------------------------------------------------------------------------------
# Kernel websocket watcher
# --------------------------------------------------------------------------------------


def _decode_ws_message(payload: str | bytes) -> tuple[str, dict, dict, dict] | None:
    """Decode a kernel websocket frame -> (channel, header, parent_header, content).

    Handles both the ``v1.kernel.websocket.jupyter.org`` binary framing (JupyterLab 4
    default) and the legacy JSON text framing.  Returns None for anything else.
    """
    try:
        if isinstance(payload, str):
            msg = json.loads(payload)
            return msg["channel"], msg["header"], msg["parent_header"], msg["content"]
        n = int.from_bytes(payload[:8], "little")
        offsets = [int.from_bytes(payload[8 * (i + 1) : 8 * (i + 2)], "little") for i in range(n)]
        channel = payload[offsets[0] : offsets[1]].decode()
        parts = [payload[offsets[i] : offsets[i + 1]] for i in range(1, n - 1)]
        header, parent, _metadata, content = (json.loads(p) if p else {} for p in parts[:4])
        return channel, header, parent, content
    except Exception:
        return None


class DebugTraffic:
    """Follows the Debug Adapter Protocol traffic on a page's kernel websockets.

    Knows which ``debug_request`` messages (matched by ``msg_id``; the DAP ``seq`` is not
    unique across JupyterLab's handlers) are still unanswered, and counts replies per DAP
    command and events per DAP event name.  Attach it *before* the page opens the kernel
    connection (:func:`open_notebook` does that).
    """

    def __init__(self, page: Any) -> None:
        self.pending: dict[str, str] = {}  # msg_id -> DAP command
        self.replies: dict[str, int] = {}  # DAP command -> number of replies seen
        self.events: dict[str, int] = {}  # DAP event -> number seen
        self.log: list[tuple[str, str, str]] = []  # (direction, msg_type, command/event)
        self.refused: list[dict[str, Any]] = []  # replies with success false (for failures)
        self._sockets: list[Any] = []
        self._pending_ws: dict[str, Any] = {}
        page.on("websocket", self._on_websocket)

    # -- recording ---------------------------------------------------------------------
    def _on_websocket(self, ws: Any) -> None:
        if "/api/kernels/" not in ws.url:
            return
        self._sockets.append(ws)
        ws.on("framesent", lambda payload: self._on_frame(ws, payload, sent=True))
        ws.on("framereceived", lambda payload: self._on_frame(ws, payload, sent=False))
        ws.on("close", lambda _ws: self._on_close(ws))

    def _on_frame(self, ws: Any, payload: str | bytes, sent: bool) -> None:
        decoded = _decode_ws_message(payload)
        if decoded is None:
            return
        _channel, header, parent, content = decoded
        msg_type = header.get("msg_type", "")
        if msg_type == "debug_request" and sent:
            self.pending[header["msg_id"]] = content.get("command", "")
            self._pending_ws[header["msg_id"]] = ws
            self.log.append(("sent", msg_type, content.get("command", "")))
        elif msg_type == "debug_reply" and not sent:
            command = content.get("command", "")
            self.pending.pop(parent.get("msg_id", ""), None)
            self._pending_ws.pop(parent.get("msg_id", ""), None)
            self.replies[command] = self.replies.get(command, 0) + 1
            self.log.append(("recv", msg_type, command))
            if content.get("success") is not True:
                self.refused.append(content)
        elif msg_type == "debug_event" and not sent:
            event = content.get("event", "")
            self.events[event] = self.events.get(event, 0) + 1
            self.log.append(("recv", msg_type, event))

    def _on_close(self, ws: Any) -> None:
        for msg_id in [m for m, w in self._pending_ws.items() if w is ws]:
            self.pending.pop(msg_id, None)
            self._pending_ws.pop(msg_id, None)
        with contextlib.suppress(ValueError):
            self._sockets.remove(ws)

    @staticmethod
    def _is_debug_frame(payload: str | bytes) -> bool:
        decoded = _decode_ws_message(payload)
        return decoded is not None and decoded[1].get("msg_type", "").startswith("debug_")

    def _socket(self) -> Any | None:
        for ws in reversed(self._pending_ws.values()):
            if not ws.is_closed():
                return ws
        for ws in reversed(self._sockets):
            if not ws.is_closed():
                return ws
        return None

    # -- waiting -----------------------------------------------------------------------
    def snapshot(self) -> dict[str, int]:
        """Reply counts now; pass to :meth:`settle` as ``since`` to require new replies."""
        return dict(self.replies)

    def settle(
        self,
        timeout: float = UI_TIMEOUT,
        quiet_ms: float = 250,
        since: dict[str, int] | None = None,
        require: Iterable[str] = (),
    ) -> None:
        """Wait until no debug request is pending and no debug traffic arrived for ``quiet_ms``.

        ``require``: DAP commands that must have received at least one reply after
        ``since`` (a :meth:`snapshot`) before the traffic counts as settled.
        """
        from playwright.sync_api import Error as PlaywrightError
        from playwright.sync_api import TimeoutError as PlaywrightTimeoutError

        since = since or {}
        required = list(require)
        deadline = time.monotonic() + timeout / 1000

        def missing() -> list[str]:
            return [c for c in required if self.replies.get(c, 0) <= since.get(c, 0)]

        while True:
            remaining_ms = (deadline - time.monotonic()) * 1000
            if remaining_ms <= 0:
                raise TimeoutError(
                    f"debugger traffic did not settle in {timeout} ms: pending="
                    f"{sorted(self.pending.values())} missing replies={missing()} "
                    f"last={self.log[-8:]}"
                )
            ws = self._socket()
            if ws is None:
                if missing():
                    raise RuntimeError(f"no kernel websocket; missing replies {missing()}")
                return
            busy = bool(self.pending) or bool(missing())
            try:
                ws.wait_for_event(
                    "framereceived",
                    predicate=self._is_debug_frame,
                    timeout=remaining_ms if busy else min(quiet_ms, remaining_ms),
                )
            except PlaywrightTimeoutError:
                if not self.pending and not missing():
                    return
            except PlaywrightError:
                if not ws.is_closed():
                    raise


_TRAFFIC: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def debug_traffic(page: Any) -> DebugTraffic:
    """The page's :class:`DebugTraffic` watcher (created on first use)."""
    traffic = _TRAFFIC.get(page)
    if traffic is None:
        traffic = _TRAFFIC[page] = DebugTraffic(page)
    return traffic


def _next_frame(page: Any) -> None:
    """Let the front end render: resolve after two animation frames."""
    page.evaluate(
        "() => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(() => r())))"
    )


# --------------------------------------------------------------------------------------
# Notebook
# --------------------------------------------------------------------------------------


def notebook(page: Any) -> Any:
    """Locator of the notebook panel in the visible main-area tab."""
    return page.locator(SEL_NOTEBOOK)


def cell(page: Any, cell_index: int) -> Any:
    """Locator of cell ``cell_index`` (0-based) of the current notebook."""
    return notebook(page).locator(SEL_CELL).nth(cell_index)


def kernel_status(page: Any) -> str | None:
    """The toolbar kernel status (``idle``, ``busy``, ``starting``, ...)."""
    return notebook(page).locator(SEL_KERNEL_STATUS).first.get_attribute("data-status")


def open_notebook(
    page: Any, base_url: str, token: str, path: str, timeout: float = KERNEL_TIMEOUT
) -> Any:
    """Open ``path`` (relative to the server root) in JupyterLab, wait for an idle kernel.

    Uses ``?reset`` so no saved workspace layout leaks in.  Fails fast (with the dialog
    text) if JupyterLab shows a dialog instead, e.g. "Select Kernel" for an unknown
    kernelspec.  Returns the notebook panel locator.
    """
    from playwright.sync_api import expect

    debug_traffic(page)  # must be listening before the kernel websocket opens
    base_url = base_url if base_url.endswith("/") else base_url + "/"
    page.goto(f"{base_url}lab/tree/{quote(path)}?token={token}&reset", timeout=timeout)
    panel = notebook(page)
    idle = panel.locator(f'{SEL_KERNEL_STATUS}[data-status="idle"]')
    dialog = page.locator(".jp-Dialog")
    idle.or_(dialog).first.wait_for(state="visible", timeout=timeout)
    if dialog.is_visible():
        raise AssertionError(f"JupyterLab showed a dialog: {dialog.inner_text()!r}")
    expect(panel.locator(SEL_CELL).first).to_be_visible(timeout=timeout)
    return panel


def wait_kernel_idle(page: Any, timeout: float = KERNEL_TIMEOUT) -> None:
    """Wait until the current notebook's kernel reports idle."""
    notebook(page).locator(f'{SEL_KERNEL_STATUS}[data-status="idle"]').wait_for(timeout=timeout)


def run_all(page: Any, timeout: float = UI_TIMEOUT) -> None:
    """Run → Run All Cells (menu ``runmenu:run-all``)."""
    _mark_frames_stale(page)
    page.locator(".lm-MenuBar").get_by_role("menuitem", name="Run", exact=True).click(
        timeout=timeout
    )
    item = page.locator('#jp-mainmenu-run .lm-Menu-item[data-command="runmenu:run-all"]')
    item.click(timeout=timeout)
    item.wait_for(state="hidden", timeout=timeout)


def wait_until_done(page: Any, timeout: float = KERNEL_TIMEOUT) -> None:
    """Wait until no cell of the current notebook is running/queued and the kernel is idle.

    Raises if the debugger stops instead.
    """
    if wait_for_stop_or_done(page, timeout):
        raise AssertionError(f"debugger stopped unexpectedly: {callstack_rows(page)}")


def cell_output_text(page: Any, cell_index: int) -> str:
    """Text of all outputs of cell ``cell_index`` (0-based), joined by newlines, stripped."""
    outputs = cell(page, cell_index).locator(".jp-OutputArea-output")
    return "\n".join(t.strip() for t in outputs.all_inner_texts()).strip()


def wait_for_output(page: Any, cell_index: int, text: str, timeout: float = UI_TIMEOUT) -> str:
    """Wait until cell ``cell_index``'s output contains ``text``; returns the output text."""
    from playwright.sync_api import expect

    outputs = cell(page, cell_index).locator(".jp-OutputArea-output")
    expect(outputs.filter(has_text=text).first).to_be_visible(timeout=timeout)
    return cell_output_text(page, cell_index)


# --------------------------------------------------------------------------------------
# Debugger
# --------------------------------------------------------------------------------------


def debugger_sidebar(page: Any) -> Any:
    return page.locator(SEL_DEBUGGER_SIDEBAR)


def enable_debugger(page: Any, timeout: float = KERNEL_TIMEOUT) -> None:
    """Press the notebook toolbar's bug button and wait until the debugger session is up.

    "Up" means: the button is pressed (``aria-pressed="true"``), the debugger sidebar is
    visible, its Callstack "Continue/Pause" button is enabled (= session started) and the
    DAP handshake traffic (initialize/attach/...) has settled.
    """
    from playwright.sync_api import expect

    traffic = debug_traffic(page)
    bug = notebook(page).locator(f'{SEL_BUG_BUTTON}:not([aria-disabled="true"])')
    bug.wait_for(state="visible", timeout=timeout)  # disabled until the kernel says debugger: true
    if bug.get_attribute("aria-pressed") != "true":
        before = traffic.snapshot()
        bug.click(timeout=timeout)
        traffic.settle(timeout=timeout, since=before, require=["attach"])
    expect(bug).to_have_attribute("aria-pressed", "true", timeout=timeout)
    sidebar = debugger_sidebar(page)
    if not sidebar.is_visible():
        page.locator(f'.jp-SideBar .lm-TabBar-tab[data-id="{SEL_DEBUGGER_SIDEBAR[1:]}"]').click(
            timeout=timeout
        )
    expect(sidebar).to_be_visible(timeout=timeout)
    expect(page.locator(f'{SEL_CONTINUE}:not([aria-disabled="true"])')).to_be_visible(
        timeout=timeout
    )
    # Breakpoint gutters are injected into the editors once the session is up. Seen once on
    # a first JupyterLab start in a fresh environment: the session came up (full DAP
    # handshake) but no editor got a gutter; switching the debugger off and on again, as a
    # user would, brings them.
    from playwright.sync_api import TimeoutError as PlaywrightTimeoutError

    gutter = notebook(page).locator(SEL_BREAKPOINT_GUTTER).first
    try:
        gutter.wait_for(state="attached", timeout=min(timeout, GUTTER_TIMEOUT))
    except PlaywrightTimeoutError:
        print("enable_debugger: no breakpoint gutter yet; switching the debugger off and on")
        for _ in range(2):
            before = traffic.snapshot()
            bug.click(timeout=timeout)
            traffic.settle(timeout=timeout, since=before)
        expect(bug).to_have_attribute("aria-pressed", "true", timeout=timeout)
    expect(gutter).to_be_attached(timeout=timeout)
    traffic.settle(timeout=timeout)


def _toggle_breakpoint(
    page: Any, cell_index: int, line: int, want: bool, timeout: float = UI_TIMEOUT
) -> None:
    traffic = debug_traffic(page)
    c = cell(page, cell_index)
    c.scroll_into_view_if_needed(timeout=timeout)
    gutter = c.locator(SEL_BREAKPOINT_GUTTER).first
    gutter.wait_for(state="visible", timeout=timeout)
    number = c.locator(".cm-lineNumbers .cm-gutterElement").get_by_text(str(line), exact=True)
    number.wait_for(state="visible", timeout=timeout)
    line_box, gutter_box = number.bounding_box(), gutter.bounding_box()
    y = line_box["y"] + line_box["height"] / 2
    has_marker = """([gutter, y]) => [...gutter.querySelectorAll('.cm-gutterElement')].some(el => {
        const r = el.getBoundingClientRect();
        return r.height > 0 && r.top <= y && y <= r.bottom
            && !!el.querySelector('.cm-breakpoint-icon');
    })"""
    gutter_handle = gutter.element_handle(timeout=timeout)
    if page.evaluate(has_marker, [gutter_handle, y]) == want:
        return
    before = traffic.snapshot()
    page.mouse.click(gutter_box["x"] + gutter_box["width"] / 2, y)
    page.wait_for_function(
        f"(args) => ({has_marker})(args) === {'true' if want else 'false'}",
        arg=[gutter_handle, y],
        timeout=timeout,
    )
    traffic.settle(timeout=timeout, since=before, require=["setBreakpoints"])


def set_breakpoint(page: Any, cell_index: int, line: int, timeout: float = UI_TIMEOUT) -> None:
    """Click the breakpoint gutter of ``line`` (1-based) in cell ``cell_index`` (0-based).

    Asserts the red breakpoint marker appears on that line and waits for the kernel's
    ``setBreakpoints`` reply.  No-op if a breakpoint is already there.
    """
    _toggle_breakpoint(page, cell_index, line, True, timeout)


def remove_breakpoint(page: Any, cell_index: int, line: int, timeout: float = UI_TIMEOUT) -> None:
    """Inverse of :func:`set_breakpoint`."""
    _toggle_breakpoint(page, cell_index, line, False, timeout)


def breakpoint_lines(page: Any, cell_index: int) -> list[int]:
    """Line numbers (1-based) that show a breakpoint marker in cell ``cell_index``."""
    return cell(page, cell_index).evaluate(
        """(c) => {
            const nums = [...c.querySelectorAll('.cm-lineNumbers .cm-gutterElement')];
            const marks = [...c.querySelectorAll('.cm-breakpoint-gutter .cm-gutterElement')]
                .filter(el => el.querySelector('.cm-breakpoint-icon'))
                .map(el => el.getBoundingClientRect())
                .filter(r => r.height > 0);
            return nums.filter(n => {
                const r = n.getBoundingClientRect(), y = (r.top + r.bottom) / 2;
                return r.height > 0 && marks.some(m => m.top <= y && y <= m.bottom);
            }).map(n => parseInt(n.textContent, 10));
        }"""
    )


def _mark_frames_stale(page: Any) -> None:
    # Tag the current call-stack rows so waits can tell a *new* stop from the old one.
    # React drops these <li> nodes when the call stack is cleared on continue.
    page.evaluate(
        """(sel) => document.querySelectorAll(sel)
            .forEach(li => li.setAttribute('data-pw-stale', '1'))""",
        SEL_FRAME,
    )


def _fresh_frames(page: Any) -> Any:
    return page.locator(f"{SEL_FRAME}:not([data-pw-stale])")


def wait_for_stop(page: Any, timeout: float = UI_TIMEOUT) -> list[str]:
    """Wait until the debugger is stopped (a *new* call stack is shown) and has settled.

    "New" = not a stack that :func:`press_continue` / :func:`run_all` / :func:`step` marked
    as already seen; so right after :func:`click_frame` this returns immediately.
    Returns :func:`callstack_rows`.  "Settled" = the front end's follow-up requests
    (stackTrace, scopes, variables) have all been answered and rendered.
    """
    _fresh_frames(page).first.wait_for(state="visible", timeout=timeout)
    debug_traffic(page).settle(timeout=timeout)
    _next_frame(page)
    return callstack_rows(page)


_STATE_JS = """([panelSel, statusSel, frameSel]) => {
    if (document.querySelector(frameSel + ':not([data-pw-stale])')) return 'stopped';
    const panel = document.querySelector(panelSel);
    if (!panel) return false;
    const running = [...panel.querySelectorAll('.jp-InputPrompt')]
        .some(p => p.textContent.includes('[*]'));
    const status = panel.querySelector(statusSel);
    return !running && status && status.dataset.status === 'idle' ? 'done' : false;
}"""


def wait_for_stop_or_done(page: Any, timeout: float = KERNEL_TIMEOUT) -> bool:
    """After a continue: True when the debugger stopped again, False when all cells finished.

    "Finished" = no cell prompt shows ``[*]`` (running or queued) and the kernel is idle;
    a bare "idle" is not enough because the kernel is briefly idle between queued cells.
    """
    state = page.wait_for_function(
        _STATE_JS, arg=[SEL_NOTEBOOK, SEL_KERNEL_STATUS, SEL_FRAME], timeout=timeout
    ).json_value()
    if state == "stopped":
        wait_for_stop(page, timeout=timeout)
        return True
    debug_traffic(page).settle(timeout=timeout)
    return False


def callstack_frames(page: Any) -> list[tuple[str, str]]:
    """``(name, location)`` for each Callstack row, innermost first.

    JupyterLab renders the location as ``Cell [N]:LINE`` for cells it can map back to the
    notebook (``Cell [*]`` while that cell is still running, ``Cell [ ]`` if never run) and
    as the raw source path otherwise (tooltip = path).
    """
    return [
        (
            row.locator(SEL_FRAME_NAME).inner_text().strip(),
            row.locator(SEL_FRAME_LOCATION).inner_text().strip(),
        )
        for row in page.locator(SEL_FRAME).all()
    ]


def callstack_rows(page: Any) -> list[str]:
    """Text of each Callstack row, ``"<name> <location>"``, e.g. ``"f Cell [1]:4"``."""
    return [f"{name} {location}" for name, location in callstack_frames(page)]


def callstack_paths(page: Any) -> list[str | None]:
    """The source path of each Callstack row (the location's tooltip)."""
    rows = page.locator(SEL_FRAME).all()
    return [row.locator(SEL_FRAME_LOCATION).get_attribute("title") for row in rows]


def selected_frame(page: Any) -> int | None:
    """Index of the highlighted Callstack row."""
    classes = [row.get_attribute("class") or "" for row in page.locator(SEL_FRAME).all()]
    return next((i for i, c in enumerate(classes) if "selected" in c.split()), None)


def click_frame(page: Any, index: int, timeout: float = UI_TIMEOUT) -> None:
    """Select Callstack row ``index`` (0 = innermost) and wait for its variables to load."""
    from playwright.sync_api import expect

    row = page.locator(SEL_FRAME).nth(index)
    row.wait_for(state="visible", timeout=timeout)
    if selected_frame(page) == index:
        return
    traffic = debug_traffic(page)
    before = traffic.snapshot()
    row.click(timeout=timeout)
    expect(row).to_have_class(re.compile(r"\bselected\b"), timeout=timeout)
    traffic.settle(timeout=timeout, since=before, require=["scopes"])
    _next_frame(page)


def scopes(page: Any) -> list[str]:
    """Scope names offered by the Variables panel's scope switcher (e.g. Locals, Globals)."""
    return debugger_sidebar(page).locator('select[aria-label="Scope"] option').all_inner_texts()


def variables(page: Any, scope: str | None = None, timeout: float = UI_TIMEOUT) -> dict[str, str]:
    """Top-level variables shown in the Variables panel's **tree view**: name -> value text.

    ``scope`` selects an entry of the scope switcher first (JupyterLab shows the first
    scope, e.g. ``Locals``, after a stop).  Values are the rendered text, e.g. ``"3"``,
    ``"'abc'"``; groups like ``special variables`` have value ``""``.
    Call after :func:`wait_for_stop` / :func:`click_frame`, which wait for the data.
    """
    sidebar = debugger_sidebar(page)
    tree_button = sidebar.locator('jp-button[title="Tree View"]')
    if tree_button.count() and tree_button.get_attribute("aria-pressed") != "true":
        tree_button.click(timeout=timeout)
    if scope is not None:
        select = sidebar.locator('select[aria-label="Scope"]')
        if select.input_value(timeout=timeout) != scope:
            select.select_option(label=scope, timeout=timeout)
            debug_traffic(page).settle(timeout=timeout)
    _next_frame(page)
    return _tree_items(_variables_tree(page, timeout))


# Direct child tree items that have a name (skips the empty placeholder item JupyterLab puts
# into not-yet-expanded items to make them expandable).
_ITEMS_JS = """(parent) => [...parent.children]
    .filter(el => el.tagName === 'JP-TREE-ITEM')
    .map(el => [
        el.querySelector(':scope > .jp-DebuggerVariables-name'),
        el.querySelector(':scope > .jp-DebuggerVariables-detail'),
    ])
    .filter(([name]) => name)
    .map(([name, detail]) => [name.textContent, detail ? detail.textContent : ''])"""


def _variables_tree(page: Any, timeout: float) -> Any:
    tree = debugger_sidebar(page).locator(f"{SEL_VARIABLES_BODY}:not(.lm-mod-hidden) jp-tree-view")
    tree.first.wait_for(state="attached", timeout=timeout)
    return tree.first


def _tree_items(parent: Any) -> dict[str, str]:
    return {name: value for name, value in parent.evaluate(_ITEMS_JS)}


def expand_variable(page: Any, name: str, timeout: float = UI_TIMEOUT) -> dict[str, str]:
    """Expand top-level tree item ``name`` (e.g. ``"function variables"``, a dict, an object)
    in the Variables panel and return its children as name -> value text.

    Items without ``aria-expanded`` (plain values like ints) are not expandable: ``{}``.
    """
    item = _variables_tree(page, timeout).locator(
        ":scope > jp-tree-item",
        has=page.locator(
            ":scope > .jp-DebuggerVariables-name", has_text=re.compile(f"^{re.escape(name)}$")
        ),
    )
    item.wait_for(state="visible", timeout=timeout)
    expanded = item.get_attribute("aria-expanded")
    if expanded is None:
        return {}
    if expanded != "true":
        traffic = debug_traffic(page)
        before = traffic.snapshot()
        item.locator(":scope > .jp-DebuggerVariables-name").click(timeout=timeout)
        traffic.settle(timeout=timeout, since=before, require=["variables"])
        _next_frame(page)
    return _tree_items(item)


def press_continue(page: Any, timeout: float = UI_TIMEOUT) -> None:
    """Click Continue in the Callstack toolbar and wait until the kernel acknowledged it.

    Afterwards use :func:`wait_for_stop` (expect another stop) or
    :func:`wait_for_stop_or_done`.
    """
    from playwright.sync_api import expect

    button = page.locator(SEL_CONTINUE)
    expect(button).to_have_attribute("title", re.compile("^Continue"), timeout=timeout)
    traffic = debug_traffic(page)
    before = traffic.snapshot()
    _mark_frames_stale(page)
    button.click(timeout=timeout)
    traffic.settle(timeout=timeout, since=before, require=["continue"])


def step(page: Any, kind: str = "next", timeout: float = UI_TIMEOUT) -> list[str]:
    """Press Next / Step In / Step Out (``kind`` = ``next``, ``stepIn``, ``stepOut``) in the
    Callstack toolbar and wait for the resulting stop; returns :func:`callstack_rows`.

    Expects the step to stop again (it times out if the step runs the cell to completion).
    """
    if kind not in ("next", "stepIn", "stepOut"):
        raise ValueError(f"unknown step kind {kind!r}")
    button = page.locator(f'#jp-debugger-sidebar jp-button[data-command="debugger:{kind}"]')
    button.and_(page.locator(':not([aria-disabled="true"])')).wait_for(timeout=timeout)
    traffic = debug_traffic(page)
    before = traffic.snapshot()
    _mark_frames_stale(page)
    button.click(timeout=timeout)
    # The new stop: the kernel answers the step, sends "stopped", JupyterLab re-fetches
    # the stack (stackTrace) and the selected frame's scopes/variables.
    traffic.settle(timeout=timeout, since=before, require=[kind, "stackTrace", "scopes"])
    # Frame rows may be re-used by React when frame ids repeat, so clear the marks.
    page.evaluate(
        "(s) => document.querySelectorAll(s).forEach(li => li.removeAttribute('data-pw-stale'))",
        SEL_FRAME,
    )
    return wait_for_stop(page, timeout)


def continue_until_done(page: Any, max_stops: int = 100, timeout: float = KERNEL_TIMEOUT) -> int:
    """Press Continue until execution finishes; returns how many further stops occurred."""
    stops = 0
    while True:
        press_continue(page, timeout=timeout)
        if not wait_for_stop_or_done(page, timeout=timeout):
            return stops
        stops += 1
        if stops > max_stops:
            raise AssertionError(f"still stopping after {max_stops} continues")
