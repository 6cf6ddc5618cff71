"""The JavaScript child runtime: functions in tslab's JS kernel, found by the `.js` extension
and the `javascript` kernelspec language.

`runtime.cjs` and `lib/` run inside the kernels (the kernelspec `metakernel_dbg_js`
preloads `runtime.cjs` into node, see `install.py`); `JsRuntime` is what the meta-kernel
knows of them. Each piece of code it sends (but the serve cell) is one call of
`globalThis.__mkdbg.cell(OP, ...)`, which never fails the cell (tslab answers the
requests that follow a failed cell with "abort", and its error replies carry no ename):
the outcome is a line on stdout, `OUTCOME` + JSON, read by `failure()`.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from dataclasses import asdict
from typing import Any

from ..base import Bootstrap, ChildRuntime, DefinitionError

HERE = os.path.dirname(os.path.abspath(__file__))
RUNTIME = os.path.join(HERE, "runtime.cjs")
KERNEL_NAME = "metakernel_dbg_js"
OUTCOME = "\x01mkdbg "
_CHECK_TIMEOUT = 30.0


def _cell(op: str, *args: Any) -> str:
    """A cell that runs one entry point of runtime.cjs (JSON literals are JS literals)."""
    return f"globalThis.__mkdbg.cell({', '.join(json.dumps(a) for a in (op, *args))})"


class JsRuntime(ChildRuntime):
    language = "javascript"
    extensions = (".js",)
    default_kernel = KERNEL_NAME
    comment = "//"
    debug_backend = "metakernel_dbg.debug.cdp_backend:CdpBackend"
    serve_code = "globalThis.__mkdbg.serve()"
    outcome_on_stdout = True

    def check_definition(self, name: str, source: str, where: str) -> None:
        """Compile-check with node (nothing runs) and require a top-level `function NAME(`."""
        node = shutil.which("node")
        if node is None:
            raise DefinitionError("JavaScript functions need node on PATH (Node.js 20 or newer)")
        request = json.dumps({"name": name, "source": source, "where": where})
        try:
            out = subprocess.run(
                [node, os.path.join(HERE, "lib", "check.cjs")],
                input=request,
                capture_output=True,
                text=True,
                timeout=_CHECK_TIMEOUT,
                check=True,
            )
            verdict = json.loads(out.stdout)
        except (OSError, subprocess.SubprocessError, ValueError) as exc:
            raise DefinitionError(f"cannot check {where} with node: {exc}") from None
        if not verdict["ok"]:
            raise DefinitionError(verdict["message"], verdict.get("line"))

    def bootstrap_code(self, settings: Bootstrap) -> str:
        data = asdict(settings)
        data["key"] = settings.key.hex()
        return _cell("bootstrap", data)

    def define_code(self, name: str, source: str, filename: str) -> str:
        return _cell("define", name, source, filename)

    def failure(self, reply: dict[str, Any], stdout: str) -> str | None:
        """The outcome line printed by `cell()` (see the module docstring)."""
        _, found, line = stdout.rpartition(OUTCOME)
        if not found:
            return f"no outcome from the JavaScript runtime (status {reply.get('status')!r})"
        outcome = json.loads(line.split("\n", 1)[0])
        if outcome["ok"]:
            return None
        error = outcome["error"]
        return f"{error.get('type')}: {error.get('message')}"
