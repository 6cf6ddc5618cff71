"""`metakernel-dbg difftest`: the debugger against stock ipykernel + debugpy, program by program.

Both kernels run every program with the same debug requests, side by side (two threads);
the recordings must be equal. Prints each mismatch side by side and the match rate.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from .compare import differences
from .program import Program
from .record import Recorder

REFERENCE_KERNEL = "python3"
META_KERNEL = "metakernel_dbg"


@dataclass
class Outcome:
    matched: list[str] = field(default_factory=list)
    mismatched: list[tuple[Program, list[str]]] = field(default_factory=list)

    @property
    def rate(self) -> float:
        total = len(self.matched) + len(self.mismatched)
        return len(self.matched) / total if total else 1.0


class Pair:
    """A stock kernel and a meta-kernel, each with its debugger on, reused across programs."""

    def __init__(self) -> None:
        self.workdir = tempfile.mkdtemp(prefix="mkdbg-difftest-")
        self.pool = ThreadPoolExecutor(2)
        self.reference: Recorder | None = None
        self.meta: Recorder | None = None
        try:
            ref = self.pool.submit(Recorder, self.workdir, "reference", REFERENCE_KERNEL)
            meta = self.pool.submit(Recorder, self.workdir, "meta", META_KERNEL)
            self.reference, self.meta = ref.result(), meta.result()
        except BaseException:
            self.close()
            raise

    def run(self, program: Program) -> list[str]:
        """The differences of one program (empty: a match)."""
        assert self.reference is not None and self.meta is not None
        ref = self.pool.submit(self.reference.record, program)
        meta = self.pool.submit(self.meta.record, program)
        return differences(ref.result(), meta.result())

    def close(self) -> None:
        for side in (self.reference, self.meta):
            if side is not None:
                side.close()
        self.pool.shutdown()
        shutil.rmtree(self.workdir, ignore_errors=True)


def run(programs: Iterable[Program], log: Callable[[str], None] = print) -> Outcome:
    outcome = Outcome()
    pair = Pair()
    try:
        for program in programs:
            try:
                diff = pair.run(program)
            except Exception as exc:  # noqa: BLE001 - a run that broke is a mismatch, reported
                diff = [f"the run failed: {type(exc).__name__}: {exc}"]
                pair.close()
                pair = Pair()
            if diff:
                outcome.mismatched.append((program, diff))
                log(f"MISMATCH {program.name}\n{program.text()}\n" + "\n".join(diff))
            else:
                outcome.matched.append(program.name)
                log(f"match    {program.name}")
    finally:
        pair.close()
    return outcome


def main(argv: list[str] | None = None) -> int:
    import argparse

    from .corpus import CORPUS

    parser = argparse.ArgumentParser(prog="metakernel-dbg difftest", description=__doc__)
    parser.add_argument("--examples", type=int, default=0, help="generated programs to run")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-corpus", action="store_true", help="generated programs only")
    ns = parser.parse_args(argv)
    programs: list[Any] = [] if ns.no_corpus else list(CORPUS)
    if ns.examples:
        from .generate import programs as generated

        programs += generated(ns.examples, ns.seed)
    outcome = run(programs)
    total = len(outcome.matched) + len(outcome.mismatched)
    print(f"match rate: {len(outcome.matched)}/{total} = {100 * outcome.rate:.1f} %")
    return 0 if not outcome.mismatched else 1


if __name__ == "__main__":
    sys.exit(main())
