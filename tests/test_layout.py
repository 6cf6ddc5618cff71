"""The layout's promises: sans-IO cores stay pure, public imports keep working."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

#: the pure cores: merging stacks, stepping rules, the console, traces, the wire, ordering
SANS_IO = [
    "metakernel_dbg.debug.dapcore",
    "metakernel_dbg.debug.cdpcore",
    "metakernel_dbg.debug.stepping",
    "metakernel_dbg.debug.cellpath",
    "metakernel_dbg.console.core",
    "metakernel_dbg.trace.model",
    "metakernel_dbg.callplane.wire",
    "metakernel_dbg.callplane.ordering",
    "metakernel_dbg.callplane.values",
    "metakernel_dbg.batch.records",
]
IO_MODULES = ("socket", "zmq", "asyncio", "threading", "selectors", "subprocess")

_PROBE = """
import json, sys
before = set(sys.modules)
import {module}
print(json.dumps(sorted(set(sys.modules) - before)))
"""


@pytest.mark.parametrize("module", SANS_IO)
def test_sans_io_cores_import_no_sockets_zmq_asyncio_or_threads(module: str) -> None:
    out = subprocess.run(
        [sys.executable, "-c", _PROBE.format(module=module)],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    loaded = json.loads(out.stdout)
    bad = [m for m in loaded if m.split(".")[0] in IO_MODULES]
    assert not bad, f"{module} pulls in {bad}"


def test_the_purity_check_can_fail() -> None:
    out = subprocess.run(
        [sys.executable, "-c", _PROBE.format(module="metakernel_dbg.callplane.local")],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    assert "socket" in json.loads(out.stdout)


def test_public_imports_keep_working() -> None:
    from metakernel_dbg import AsyncSession, RenderError, Session, call
    from metakernel_dbg.errors import RemoteError

    assert callable(call) and Session and AsyncSession and RenderError and RemoteError
    code = "import metakernel_dbg.kernelapp, metakernel_dbg.cli; print('ok')"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() == "ok", out.stderr


def test_cell_paths_match_ipykernel() -> None:
    from ipykernel.compiler import murmur2_x86

    from metakernel_dbg.debug.cellpath import HASH_SEED
    from metakernel_dbg.debug.cellpath import murmur2_x86 as ours

    samples = ["", "a", "ab", "abc", "abcd", "\n\nx=1\n", "é€😀 x", "def f(n):\n    return n\n"]
    for code in samples:
        assert ours(code) == murmur2_x86(code, HASH_SEED), code
