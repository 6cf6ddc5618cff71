"""Cross-kernel stepping rules (sans-IO): what a step does when it reaches a call boundary.

In one process a debugger steps from a caller into a callee and back without noticing the
frame boundary. Across kernels the boundary is a `call()` on one side and a serve loop on
the other, each in its own debugger, so the rules of the reference debugger (pydevd) at a
frame boundary are restated here, as data, and carried out by each runtime's hooks:

- **call out**: a step *into* pending on the caller's call line makes the callee stop at
  its first line (`entry` on the call) and is consumed; a step *over* or *out* stays with
  the caller (the callee runs free: in one process pydevd skips the deeper frames too).
- **callee exits**: the step still pending in the callee when its function returns or
  raises tells the caller what to do (`step` on the reply): stop at its call line now
  (`"here"`), step into from there (`"into"`), or nothing. pydevd 3.12+ (sys.monitoring)
  stops in the caller at the call line on the return of the stepped frame, for every
  step kind; under sys.settrace (3.11) a step over becomes a step into at that return.
  A frame left by an exception: with sys.monitoring a step over / out stays bound to the
  dead frame (it never fires again) while a step into goes on into the caller; with
  sys.settrace the exception's return event acts as a return.
- **a stop anywhere**: every step pending in the waiting callers is dropped (in one
  process a new stop replaces the step in progress).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

#: a step the user asked for that has not stopped yet
Step = Literal["into", "over", "out"]
#: what a callee's exit makes its caller do
Reply = Literal["here", "into"]
#: how the reference debugger traces: sys.monitoring (Python 3.12+) or sys.settrace
Mode = Literal["monitoring", "settrace"]


@dataclass(frozen=True)
class CallOut:
    entry: bool  # the callee stops at its first line
    keep: bool  # the caller keeps its pending step


def at_call(pending: Step | None) -> CallOut:
    """A caller with `pending` calls another kernel."""
    if pending == "into":
        return CallOut(entry=True, keep=False)
    return CallOut(entry=False, keep=pending is not None)


_AT_EXIT: dict[tuple[Mode, str, Step], Reply | None] = {
    ("monitoring", "return", "into"): "here",
    ("monitoring", "return", "over"): "here",
    ("monitoring", "return", "out"): "here",
    ("monitoring", "raise", "into"): "into",
    ("monitoring", "raise", "over"): None,
    ("monitoring", "raise", "out"): None,
    ("settrace", "return", "into"): "here",
    ("settrace", "return", "over"): "into",
    ("settrace", "return", "out"): "here",
    ("settrace", "raise", "into"): "here",
    ("settrace", "raise", "over"): "into",
    ("settrace", "raise", "out"): "here",
}


def at_exit(mode: Mode, how: Literal["return", "raise"], pending: Step | None) -> Reply | None:
    """The callee's function returned or raised with `pending`: the reply's `step`. The
    callee's own pending step is dropped either way (its caller is in another kernel)."""
    return None if pending is None else _AT_EXIT[(mode, how, pending)]


def on_stop() -> Literal["clear"]:
    """A stop anywhere in the chain: what each waiting caller does with its pending step."""
    return "clear"
