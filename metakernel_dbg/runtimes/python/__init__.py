"""The Python child runtime: `call`, the serve loop and the debugger hooks.

`runtime.py` and `debughooks.py` run inside child kernels; `PythonRuntime` is what the
meta-kernel knows of them. Light on purpose: children import this package.
"""

from __future__ import annotations

import ast

from ..base import Bootstrap, ChildRuntime, DefinitionError

_MODULE = "metakernel_dbg.runtimes.python.runtime"
#: an expression for the runtime module that binds no name in the user's namespace
_RT = f"__import__({_MODULE!r}, fromlist=['_'])"


class PythonRuntime(ChildRuntime):
    language = "python"
    extensions = (".py",)
    default_kernel = "python3"
    comment = "#"
    debug_backend = "metakernel_dbg.debug.debugpy_backend:DebugpyBackend"
    serve_code = f"{_RT}.serve()"

    def check_definition(self, name: str, source: str, where: str) -> None:
        """Compile-check and require a top-level `def NAME`."""
        if not name.isidentifier():
            raise DefinitionError(f"{name!r} is not a valid function name", 1)
        try:
            tree = ast.parse(source, filename=where)
        except SyntaxError as exc:
            raise DefinitionError(
                f"SyntaxError in {where}: {exc.msg} (line {exc.lineno})", exc.lineno
            ) from None
        defined = {
            node.name
            for node in tree.body
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        }
        if name not in defined:
            raise DefinitionError(
                f"{where} must define 'def {name}(...)'; it defines "
                f"{', '.join(sorted(defined)) or 'no function'}"
            )

    def bootstrap_code(self, settings: Bootstrap) -> str:
        return (
            f"{_RT}.bootstrap({settings.endpoint!r}, {settings.instance_id!r}, "
            f"{settings.key.hex()!r}, {settings.role!r}, {settings.cell_dir!r}, "
            f"{settings.max_message})"
        )

    def define_code(self, name: str, source: str, filename: str) -> str:
        return f"{_RT}.define({name!r}, {source!r}, {filename!r})"
