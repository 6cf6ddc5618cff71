"""The child-runtime seam: one language's code inside child kernels, as the meta-kernel drives it.

A function runs in a child kernel of any kernelspec whose language has a runtime. The
meta-kernel never runs user code itself; it sends the child small pieces of code, written
by the runtime, as silent execute_requests. Lifecycle of a child kernel, once `launch/`
started it:

1. `bootstrap_code(settings)`: run once. The child connects to the call plane (the
   transport endpoint in `settings`), installs the `call` builtin of its language and says
   hello to the router.
2. `define_code(fdef)`: run to define, or redefine, a function (checked beforehand with
   `check_definition`, so mistakes show in the defining cell). `failure()` reads how the
   code of steps 1 and 2 ran from the kernel's reply (and its output, for kernels whose
   error replies say too little).
3. `serve_code`: run as one long execute_request; the child runs the calls routed (or
   linked) to it, for one render at a time and across renders, until the router says
   `stop` (a redefinition, a debugger starting). At the end of each render the router
   sends `revoke`: the links granted in it end. A thread other than the one serving or
   calling may call over a connection of its own, identity `ID~N`, keyed
   `child_key(own key, "ID~N")`; the router gives its calls a render (strand) of their own.
4. While a caller waits in `call()`, its runtime answers the router's `inspect` requests
   about the waiting frames (`op`: `stack` -> [`FrameData`], `variables` -> [`VariableData`],
   `evaluate` -> `{"result", "type"}`, `exec`), so debuggers and the console see waiting
   callers in every language.
5. A call that fails returns `ErrorData`; its `frames` are user frames only (the runtime's
   own frames never show), innermost last.

Implementations are found by entry point (group `metakernel_dbg.runtimes`, see
`registry.py`), the way jupyter_client finds kernel provisioners.
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any, ClassVar, TypedDict


class FrameData(TypedDict):
    """A waiting caller's frame, innermost first (`inspect`, op `stack`)."""

    name: str
    file: str
    line: int
    source: str


class VariableData(TypedDict):
    """One variable of a waiting caller's frame, shaped as a DAP `Variable`."""

    name: str
    value: str
    type: str
    evaluateName: str
    variablesReference: int


class ErrorFrame(TypedDict):
    """One frame of a failed call (see `trace.Frame`)."""

    file: str
    line: int
    function: str
    source: str
    locals: dict[str, str]


class ErrorData(TypedDict, total=False):
    """A failed call as data: the type name, the message, the user frames (innermost last)."""

    type: str
    message: str
    frames: list[ErrorFrame]


class DefinitionError(Exception):
    """A definition that cannot be used; `lineno` points into the cell or file when known."""

    def __init__(self, message: str, lineno: int | None = None) -> None:
        super().__init__(message)
        self.lineno = lineno


@dataclass(frozen=True)
class Bootstrap:
    """What a child needs to join the call plane."""

    endpoint: dict[str, Any]  # the transport's endpoint (see callplane/transport.py)
    instance_id: str
    key: bytes  # this child's HMAC key
    role: str  # "main" (runs plain cells) or "function"
    cell_dir: str  # where cell files live (the debugger's paths)
    max_message: int


class ChildRuntime(ABC):
    """The meta side of one language's runtime (see the module docstring)."""

    #: the kernelspec `language` this runtime serves
    language: ClassVar[str]
    #: file extensions of function files in this language (`NAME.py`)
    extensions: ClassVar[tuple[str, ...]]
    #: the kernelspec a function file of this language runs in unless it names one
    default_kernel: ClassVar[str]
    #: how a line comment starts (`%%function` lines become comments; `kernel:` headers)
    comment: ClassVar[str]
    #: the debug backend that debugs such children, as `module:Class` (see debug/backend.py)
    debug_backend: ClassVar[str]

    @abstractmethod
    def check_definition(self, name: str, source: str, where: str) -> None:
        """Raise DefinitionError unless `source` compiles and defines function `name`."""

    @abstractmethod
    def bootstrap_code(self, settings: Bootstrap) -> str:
        """Code that joins a fresh child to the call plane (step 1)."""

    @abstractmethod
    def define_code(self, name: str, source: str, filename: str) -> str:
        """Code that defines `name` from `source`, its code carrying `filename` (step 2)."""

    #: the long execute_request of a serve loop (step 3)
    serve_code: ClassVar[str]
    #: the runtime reports how its code ran on stdout (`failure` gets the text)
    outcome_on_stdout: ClassVar[bool] = False

    def failure(self, reply: dict[str, Any], stdout: str) -> str | None:
        """Why the code of steps 1 and 2 failed (`ename: evalue`), or None: it ran.

        `reply` is the execute_reply's content, `stdout` what the cell printed (only read
        when `outcome_on_stdout`: a kernel whose error replies say too little).
        """
        if reply.get("status") == "ok":
            return None
        return f"{reply.get('ename')}: {reply.get('evalue')}"

    def kernel_header(self, source: str) -> str | None:
        """The kernelspec a function file names on its first line (`# kernel: SPEC`)."""
        first = source.split("\n", 1)[0]
        match = re.match(rf"^{re.escape(self.comment)}\s*kernel:\s*(\S+)\s*$", first)
        return match.group(1) if match else None
