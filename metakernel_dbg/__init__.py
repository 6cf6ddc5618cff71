"""metakernel_dbg: debug a program whose functions each run in their own Jupyter kernel."""

from typing import Any

__version__ = "0.1.0"
__all__ = ["call", "Session", "AsyncSession", "RenderError", "Outcome", "__version__"]


def __getattr__(name: str) -> Any:
    # Imported lazily: child kernels importing `call` need neither jupyter_client nor the
    # Session machinery, and the meta-kernel does not need the in-child runtime.
    if name == "call":
        from .runtimes.python.runtime import call

        return call
    if name in ("Session", "AsyncSession", "RenderError", "Outcome"):
        from . import session

        return getattr(session, name)
    raise AttributeError(name)
