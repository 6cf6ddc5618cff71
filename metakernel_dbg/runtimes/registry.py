"""Which child runtime serves a kernelspec or a function file.

Runtimes are found by entry point, group `metakernel_dbg.runtimes` (name: the language),
so a package can add a language without touching the engine.
"""

from __future__ import annotations

import functools
from importlib.metadata import entry_points

from .base import ChildRuntime, DefinitionError

GROUP = "metakernel_dbg.runtimes"


@functools.cache
def runtimes() -> dict[str, ChildRuntime]:
    """Every installed runtime, by language."""
    found = {}
    for ep in entry_points(group=GROUP):
        runtime = ep.load()()
        found[runtime.language] = runtime
    if "python" not in found:  # running from a source tree without the entry points
        from .python import PythonRuntime

        found["python"] = PythonRuntime()
    return found


def for_language(language: str) -> ChildRuntime | None:
    return runtimes().get(language.lower())


def for_extension(extension: str) -> ChildRuntime | None:
    return next((r for r in runtimes().values() if extension in r.extensions), None)


_LANGUAGES: dict[str, str] = {}


def kernelspec_language(name: str) -> str | None:
    """The `language` of kernelspec `name` (None: no such kernelspec, not remembered)."""
    if name not in _LANGUAGES:
        from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel

        try:
            _LANGUAGES[name] = KernelSpecManager().get_kernel_spec(name).language
        except NoSuchKernel:
            return None
    return _LANGUAGES[name]


def for_kernelspec(name: str) -> ChildRuntime:
    """The runtime of a kernelspec's language. An unknown kernelspec gets the runtime whose
    default kernelspec it is (not installed yet), else Python's (its start then fails with
    a clear error); a language without a runtime is an error."""
    language = kernelspec_language(name)
    if language is None:
        found = (r for r in runtimes().values() if r.default_kernel == name)
        return next(found, runtimes()["python"])
    runtime = for_language(language)
    if runtime is None:
        known = ", ".join(sorted(runtimes()))
        raise DefinitionError(
            f"kernelspec {name!r} runs {language}, which has no metakernel_dbg runtime "
            f"(runtimes: {known})"
        )
    return runtime
