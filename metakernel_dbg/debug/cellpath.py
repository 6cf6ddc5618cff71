"""Cell paths, the way JupyterLab and ipykernel name a cell's file (pure, standard library).

path = prefix + decimal(murmur2_x86(utf-8 code, seed 0xC70F6907)) + ".py"; the hash is
ipykernel's `ipykernel.compiler.murmur2_x86` (BSD-3-Clause), restated over bytes so that
the sans-IO cores need not import ipykernel (which imports IPython, zmq and asyncio).
"""

from __future__ import annotations

import os

HASH_SEED = 0xC70F6907  # 3339675911, ipykernel.compiler.get_tmp_hash_seed()
TMP_FILE_SUFFIX = ".py"
_M = 0x5BD1E995
_MASK = 0xFFFFFFFF


def murmur2_x86(code: str, seed: int = HASH_SEED) -> int:
    """MurmurHash2 (x86, 32 bit) of the UTF-8 bytes of `code`."""
    data = code.encode("utf-8")
    length = len(data)
    h = seed ^ length
    end = length & ~3
    for i in range(0, end, 4):
        k = int.from_bytes(data[i : i + 4], "little")
        k = (k * _M) & _MASK
        k ^= k >> 24
        k = (k * _M) & _MASK
        h = ((h * _M) & _MASK) ^ k
    tail = data[end:]
    if tail:
        h ^= int.from_bytes(tail, "little")
        h = (h * _M) & _MASK
    h ^= h >> 13
    h = (h * _M) & _MASK
    return h ^ (h >> 15)


def cell_path(cell_dir: str, code: str) -> str:
    """The file of a cell in `cell_dir` (JupyterLab's `tmpFilePrefix` without its slash)."""
    return os.path.join(cell_dir, f"{murmur2_x86(code)}{TMP_FILE_SUFFIX}")
