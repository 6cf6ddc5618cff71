"""Debugger hooks used by the in-child runtime; the only module touching pydevd internals.

They carry out the cross-kernel stepping rules of `debug/stepping.py` with pydevd: a
`stepIn` on a `call(...)` line stops at the callee's first line, a step that runs off the
callee's function continues in the caller as it would in one process, a stop anywhere
drops the steps pending in the waiting callers, and a `pause` reaches a caller that is
blocked in `call()`. Every hook does nothing when no debugger runs in this kernel.

The runtime's frames are hidden from pydevd (ipykernel's `kernel_modules` rules), so pydevd
sees neither the serve loop that calls a user function nor `call()`. Three consequences are
handled here, each with a small, documented use of pydevd's private API (debugpy 1.8):

- a step set from outside pydevd's own command path must be announced to its tracer
  (`_refresh`: frame tracing on 3.11, sys.monitoring events on 3.12+);
- a `stepOut` pressed in a callee's outermost user frame is dropped by pydevd at once (it
  finds no user frame to return to), so the step and continue requests are recorded as
  they arrive (`_install`); the same wrapper wakes the stepped thread at once (pydevd's
  `_update_stepping_info` wakes the wrong thread, so every step waited 0.2 s);
- an exception leaving a served function enters the hidden serve loop, which pydevd takes
  for library code ("userUnhandled" would stop in every kernel it crosses): that one stop
  is skipped (`_skip_boundary_stop`); the caller re-raises it where one process would.
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading
from collections.abc import Iterator
from types import CodeType, FrameType
from typing import Any, Literal

from ...debug import stepping
from ...debug.cellpath import cell_path

# pydevd command ids (pydevd_comm_constants), stable across debugpy 1.x
_CMD_THREAD_SUSPEND = 105
_CMD_STEP_INTO = 107
_CMD_STEP_OVER = 108
_CMD_STEP_RETURN = 109
_CMD_STEP_INTO_MY_CODE = 144
_CMD_STEP_OVER_MY_CODE = 159
_CMD_STEP_RETURN_MY_CODE = 160
_KINDS: dict[int, stepping.Step] = {
    _CMD_STEP_INTO: "into",
    _CMD_STEP_INTO_MY_CODE: "into",
    _CMD_STEP_OVER: "over",
    _CMD_STEP_OVER_MY_CODE: "over",
    _CMD_STEP_RETURN: "out",
    _CMD_STEP_RETURN_MY_CODE: "out",
}
_STATE_RUN, _STATE_SUSPEND = 1, 2
#: how pydevd traces here: sys.monitoring from Python 3.12 on
MODE: stepping.Mode = "monitoring" if sys.version_info >= (3, 12) else "settrace"
#: per thread: [step and continue requests received, the last one's command (-1: continue)]
_requests: dict[int, list[int]] = {}
#: the code objects that call user functions (the serve loop): see `_skip_boundary_stop`
_boundary: set[CodeType] = set()
_installed = False


def install(cell_dir: str, package_dir: str, serve_code: str, boundary: CodeType) -> list[str]:
    """Share the meta-kernel's cell paths; hide this package and the serve cell from debuggers.
    `boundary`: the code that calls served user functions.

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
    _boundary.add(boundary)
    debugger = getattr(_kernel(), "debugger", None)
    if debugger is not None:
        hidden = [
            os.path.join(folder, n)
            for folder, _dirs, files in os.walk(package_dir)
            for n in files
            if n.endswith(".py")
        ]
        debugger.kernel_modules.extend([*hidden, serve_cell, *library_dirs()])
    return [serve_cell]


def library_dirs() -> list[str]:
    """The standard library's and the installed packages' directories: a debugger never
    stops or steps in them (as with justMyCode). ipykernel hides the modules loaded when a
    kernel starts; modules loaded later, IPython's traceback formatter among them, would
    otherwise stop for every exception they raise and catch while a cell's error is shown."""
    import sysconfig

    paths = sysconfig.get_paths()
    return sorted({paths[k] for k in ("stdlib", "platstdlib", "purelib", "platlib")})


def _kernel() -> Any:
    import builtins

    get_ipython = getattr(builtins, "get_ipython", None)
    shell = get_ipython() if get_ipython is not None else None
    return getattr(shell, "kernel", None)


def _state() -> tuple[Any, threading.Thread, Any] | None:
    """pydevd's debugger, this thread and its step state; None when no debugger runs here."""
    pydevd = sys.modules.get("pydevd")
    if pydevd is None:
        return None
    py_db = pydevd.get_global_debugger()
    if py_db is None or py_db.pydb_disposed:
        return None
    if not _installed:
        _install()
    from _pydevd_bundle.pydevd_additional_thread_info import set_additional_thread_info

    thread = threading.current_thread()
    return py_db, thread, set_additional_thread_info(thread)


def _monitoring() -> Any:
    """pydevd's sys.monitoring tracer when it is the active one (3.12+), else None."""
    from _pydevd_bundle.pydevd_constants import PYDEVD_USE_SYS_MONITORING

    if not PYDEVD_USE_SYS_MONITORING:
        return None
    from _pydevd_sys_monitoring import pydevd_sys_monitoring

    return pydevd_sys_monitoring


# -- pydevd patches (installed once the debugger runs here) -----------------------------------
def _install() -> None:
    """Record step/continue requests per thread and wake the thread they are for; skip the
    userUnhandled stop at the serve loop."""
    global _installed
    _installed = True
    from _pydevd_bundle import pydevd_api, pydevd_utils
    from _pydevd_bundle.pydevd_constants import get_global_debugger, get_thread_id
    from _pydevd_bundle.pydevd_thread_lifecycle import pydevd_find_thread_by_id

    step_in_thread, resume_threads = pydevd_api.internal_step_in_thread, pydevd_api.resume_threads

    def note(thread: Any, cmd: int) -> None:
        if thread is not None:
            entry = _requests.setdefault(thread.ident, [0, -1])
            entry[0] += 1
            entry[1] = cmd
            with contextlib.suppress(Exception):  # the thread may be gone
                get_global_debugger().get_internal_queue_and_event(get_thread_id(thread))[1].set()

    def recorded_step(py_db: Any, thread_id: Any, cmd_id: int, *args: Any, **kw: Any) -> Any:
        result = step_in_thread(py_db, thread_id, cmd_id, *args, **kw)
        note(pydevd_find_thread_by_id(thread_id), cmd_id)
        return result

    def recorded_resume(thread_id: Any, except_thread: Any = None) -> Any:
        result = resume_threads(thread_id, except_thread)
        if thread_id == "*":
            threads = pydevd_utils.get_non_pydevd_threads()
        else:
            threads = [pydevd_find_thread_by_id(thread_id)]
        for thread in threads:
            if thread is not except_thread:
                note(thread, -1)
        return result

    pydevd_api.internal_step_in_thread = recorded_step
    pydevd_api.resume_threads = recorded_resume
    _skip_boundary_stop()


def _skip_boundary_stop() -> None:
    """Wrap pydevd's `handle_exception` (looked up by name at call time in both tracers) to
    skip the userUnhandled stop of an exception that leaves a served function."""
    from _pydevd_bundle.pydevd_constants import EXCEPTION_TYPE_USER_UNHANDLED

    for name in (
        "_pydevd_bundle.pydevd_frame",
        "_pydevd_bundle.pydevd_cython",
        "_pydevd_sys_monitoring._pydevd_sys_monitoring",
        "_pydevd_sys_monitoring._pydevd_sys_monitoring_cython",
    ):
        module = sys.modules.get(name)
        original = getattr(module, "handle_exception", None)
        if original is None:
            continue

        def handle_exception(
            py_db: Any, thread: Any, frame: Any, arg: Any, kind: Any, _original: Any = original
        ) -> Any:
            if kind == EXCEPTION_TYPE_USER_UNHANDLED and _boundary_frame(frame):
                return False
            return _original(py_db, thread, frame, arg, kind)

        module.handle_exception = handle_exception  # type: ignore[union-attr]


def _boundary_frame(frame: FrameType | None) -> bool:
    back = frame.f_back if frame is not None else None
    return back is not None and back.f_code in _boundary


# -- steps ---------------------------------------------------------------------------------
def _set(info: Any, cmd: int, stop: FrameType | None = None) -> None:
    """Set (or clear, with -1) this thread's step, as pydevd's own step commands do."""
    info.pydev_original_step_cmd = cmd
    info.pydev_step_cmd = cmd
    info.pydev_step_stop = stop
    info.step_in_initial_location = None
    if cmd != -1:
        info.pydev_state = _STATE_RUN
    info.update_stepping_info()


def _refresh(py_db: Any, thread: threading.Thread, frame: FrameType | None) -> None:
    """Make pydevd's tracer notice a step set outside its own command path: trace `frame`
    and its parents (3.11: their f_trace; 3.12+: their code's events), and on 3.12+
    register the step callbacks again and undo the events they disabled meanwhile."""
    if frame is not None:
        py_db.set_trace_for_frame_and_parents(thread.ident, frame)
    monitoring = _monitoring()
    if monitoring is not None:
        monitoring.update_monitor_events()
        monitoring.restart_events()


def _pending(info: Any) -> stepping.Step | None:
    """The user's step still pending in this thread (pydevd may have turned a step over
    into a step into on its way out of a frame: the original command says which)."""
    if info.pydev_step_cmd == -1 or info.pydev_state == _STATE_SUSPEND:
        return None
    return _KINDS.get(info.pydev_original_step_cmd) or _KINDS.get(info.pydev_step_cmd)


def take_step_into() -> bool:
    """At a call out (`stepping.at_call`): True when the callee must stop on entry (a
    stepIn on this call line; the step is consumed, the callee's own step takes over)."""
    state = _state()
    if state is None:
        return False
    rule = stepping.at_call(_pending(state[2]))
    if not rule.keep:
        _set(state[2], -1)
    return rule.entry


def clear_step() -> None:
    """Drop this thread's pending step (`stepping.on_stop`: a stop elsewhere replaced it),
    the one pydevd holds and a recorded stepOut it dropped alike."""
    state = _state()
    if state is None:
        return
    if state[2].pydev_step_cmd != -1:
        _set(state[2], -1)
    requests = _requests.get(state[1].ident)
    if requests is not None:
        requests[1] = -1


class Boundary:
    #: what the caller does when this call is over (`stepping.at_exit`)
    step: stepping.Reply | None = None


@contextlib.contextmanager
def call_boundary(stop_on_entry: bool) -> Iterator[Boundary]:
    """Run a served call: optionally stop at its first line; on the way out, hand the step
    still pending in this kernel to the caller, and drop it here."""
    boundary = Boundary()
    state = _state()
    if state is None:
        yield boundary
        return
    py_db, thread, info = state
    requests = _requests.setdefault(thread.ident, [0, -1])
    mark = requests[0]
    if stop_on_entry:
        _set(info, _CMD_STEP_INTO)
        _refresh(py_db, thread, None)
    how: Literal["return", "raise"] = "return"
    try:
        yield boundary
    except BaseException:
        how = "raise"
        raise
    finally:
        pending = _pending(info)
        if pending is None and requests[0] != mark and requests[1] in _KINDS:
            pending = _KINDS[requests[1]]  # a stepOut pydevd dropped at once (see module doc)
        boundary.step = stepping.at_exit(MODE, how, pending)
        if info.pydev_step_cmd != -1:
            _set(info, -1)
            _refresh(py_db, thread, None)


def after_call(step: stepping.Reply | None, site: FrameType) -> None:
    """In the caller, when the call is over: carry out the callee's `step`."""
    if step == "here":
        _stop_in(site, _CMD_STEP_OVER)
    elif step == "into":
        state = _state()
        if state is not None:
            py_db, thread, info = state
            _set(info, _CMD_STEP_INTO)
            _refresh(py_db, thread, site)


def _stop_in(frame: FrameType, cmd: int) -> None:
    """Suspend this thread now with `frame` (a user frame) on top, at its current line: as
    a finished step (a step command) or a pause. What the user does next applies to `frame`."""
    state = _state()
    if state is None:
        return
    py_db, thread, info = state
    monitoring = _monitoring()
    if monitoring is not None:  # not inside a tracer callback: stop tracing this thread
        was_tracing, tracer = monitoring.suspend_current_thread_tracing(), None
    else:
        was_tracing, tracer = False, sys.gettrace()
        _original_settrace()(None)
    try:
        info.pydev_original_step_cmd = info.pydev_step_cmd = cmd
        info.pydev_step_stop = None
        py_db.set_suspend(thread, cmd, original_step_cmd=cmd)
        info.trace_suspend_type = "sys_monitor" if monitoring is not None else "trace"
        py_db.do_wait_suspend(thread, frame, "return", None)
    finally:
        if monitoring is not None:
            if was_tracing:
                monitoring.resume_current_thread_tracing()
        else:
            _original_settrace()(tracer)


def _original_settrace() -> Any:
    """sys.settrace as it was before pydevd wrapped it (the wrapper warns on every use)."""
    try:
        from _pydevd_bundle.pydevd_tracing import TracingFunctionHolder
    except ImportError:
        return sys.settrace
    return TracingFunctionHolder._original_tracing or sys.settrace


def check_pause(frame: FrameType) -> None:
    """While blocked in call(): honour a `pause` by stopping at the calling user frame."""
    state = _state()
    if state is not None and state[2].pydev_state == _STATE_SUSPEND:
        _stop_in(frame, _CMD_THREAD_SUSPEND)


def stopped_exception() -> BaseException | None:
    """The exception this thread is stopped on (pydevd keeps it with the frames it shows),
    or None. Called from an evaluation while the thread is stopped."""
    state = _state()
    if state is None:
        return None
    from _pydevd_bundle.pydevd_constants import get_thread_id

    frames = state[0].suspended_frames_manager.get_frames_list(get_thread_id(state[1]))
    return getattr(frames, "exc_desc", None)
