"""Debugger hooks used by the in-child runtime; the only module touching pydevd internals.

They let a call cross kernels the way a step would cross a function call: a `stepIn` on a
`call(...)` line stops at the callee's first line, a step past the callee's `return` stops
in the caller at the call line, and a `pause` reaches a caller that is blocked in `call()`.
Each hook does nothing when no debugger was started in this kernel (debugpy is never
imported here unless the frontend asked for the debugger).
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading
from collections.abc import Callable, Iterator
from types import FrameType
from typing import Any

from ...debug.cellpath import cell_path

# pydevd command ids (pydevd_comm_constants), stable across debugpy 1.x
_CMD_STEP_INTO = 107
_CMD_STEP_OVER = 108
_CMD_STEP_RETURN = 109
_CMD_STEP_INTO_MY_CODE = 144
_CMD_STEP_OVER_MY_CODE = 159
_CMD_STEP_RETURN_MY_CODE = 160
_CMD_SET_BREAK = 111
_STEP_INTO = {_CMD_STEP_INTO, _CMD_STEP_INTO_MY_CODE}
_STEPPING = _STEP_INTO | {
    _CMD_STEP_OVER,
    _CMD_STEP_RETURN,
    _CMD_STEP_OVER_MY_CODE,
    _CMD_STEP_RETURN_MY_CODE,
}
_STATE_RUN, _STATE_SUSPEND = 1, 2


def install(cell_dir: str, package_dir: str, serve_code: str) -> list[str]:
    """Share the meta-kernel's cell paths; hide this package and the serve cell from debuggers.

    Returns the hidden files that are not under `package_dir` (the serve cell's path).
    """
    with contextlib.suppress(ImportError):
        import ipykernel.compiler
        import ipykernel.debugger

        def cell_directory() -> str:
            return cell_dir

        ipykernel.compiler.get_tmp_directory = cell_directory
        ipykernel.debugger.get_tmp_directory = cell_directory
    os.makedirs(cell_dir, exist_ok=True)
    serve_cell = cell_path(cell_dir, serve_code)
    debugger = getattr(_kernel(), "debugger", None)
    if debugger is not None:
        hidden = [
            os.path.join(folder, n)
            for folder, _dirs, files in os.walk(package_dir)
            for n in files
            if n.endswith(".py")
        ]
        debugger.kernel_modules.extend([*hidden, serve_cell])
    return [serve_cell]


def _kernel() -> Any:
    import builtins

    get_ipython = getattr(builtins, "get_ipython", None)
    shell = get_ipython() if get_ipython is not None else None
    return getattr(shell, "kernel", None)


def _thread_info() -> tuple[Any, Any] | None:
    """pydevd's debugger and this thread's state, or None when no debugger runs here."""
    pydevd = sys.modules.get("pydevd")
    if pydevd is None:
        return None
    py_db = pydevd.get_global_debugger()
    if py_db is None:
        return None
    from _pydevd_bundle.pydevd_additional_thread_info import set_additional_thread_info

    return py_db, set_additional_thread_info(threading.current_thread())


def take_step_into() -> bool:
    """True when the user pressed stepIn on this call line: the callee must stop on entry.

    The step is consumed here, so that after the call this kernel runs on until the callee's
    own step (or a breakpoint) stops somewhere.
    """
    state = _thread_info()
    if state is None:
        return False
    _py_db, info = state
    if info.pydev_step_cmd not in _STEP_INTO:
        return False
    _set_step(info, -1)
    return True


def _set_step(info: Any, cmd: int) -> None:
    """Set (or clear, with -1) this thread's step, as pydevd's own step commands do.

    `update_stepping_info` tells pydevd's tracer which threads are stepping: without it a
    step set here is only noticed at pydevd's next periodic check (~0.2 s later).
    """
    info.pydev_original_step_cmd = cmd
    info.pydev_step_cmd = cmd
    info.pydev_step_stop = None
    if cmd != -1:
        info.pydev_state = _STATE_RUN
    update = getattr(info, "update_stepping_info", None)
    if update is not None:
        update()


class _Boundary:
    stepping = False


@contextlib.contextmanager
def call_boundary(fn: Callable[..., Any], stop_on_entry: bool) -> Iterator[_Boundary]:
    """Run a served call: optionally stop at its first line; report a step that runs off it."""
    boundary = _Boundary()
    state = _thread_info()
    if state is not None and stop_on_entry:
        _set_step(state[1], _CMD_STEP_INTO)
    yield boundary
    state = _thread_info()
    if state is not None:
        _py_db, info = state
        boundary.stepping = info.pydev_step_cmd in _STEPPING
        if info.pydev_step_cmd != -1:
            _set_step(info, -1)


def stop_at(frame: FrameType) -> None:
    """Suspend this thread with `frame` (a user frame) on top, as a breakpoint would."""
    state = _thread_info()
    if state is None:
        return
    py_db, _info = state
    thread = threading.current_thread()
    settrace = _original_settrace()
    tracing = sys.gettrace()
    settrace(None)
    try:
        py_db.set_suspend(thread, _CMD_SET_BREAK)
        py_db.do_wait_suspend(thread, frame, "line", None)
    finally:
        settrace(tracing)


def _original_settrace() -> Callable[[Any], None]:
    """sys.settrace as it was before pydevd wrapped it (the wrapper warns on every use)."""
    try:
        from _pydevd_bundle.pydevd_tracing import TracingFunctionHolder
    except ImportError:
        return sys.settrace
    return TracingFunctionHolder._original_tracing or sys.settrace


def check_pause(frame: FrameType) -> None:
    """While blocked in call(): honour a `pause` by stopping at the calling user frame."""
    state = _thread_info()
    if state is not None and state[1].pydev_state == _STATE_SUSPEND:
        stop_at(frame)
