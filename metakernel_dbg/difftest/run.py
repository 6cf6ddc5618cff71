"""`metakernel-dbg difftest`: the debugger against stock ipykernel + debugpy, program by program.

Both kernels run every program with the same debug requests, side by side (two threads);
the recordings must be equal. Prints each mismatch side by side and the match rate.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

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


class DiffRun:
    """Programs checked one after another on one pair of kernels; the outcome so far."""

    def __init__(self, log: Callable[[str], None] = print) -> None:
        self.log = log
        self.outcome = Outcome()
        self.pair = Pair()

    def check(self, program: Program) -> None:
        number = len(self.outcome.matched) + len(self.outcome.mismatched) + 1
        try:
            diff = self.pair.run(program)
        except Exception as exc:  # noqa: BLE001 - a run that broke is a mismatch, reported
            diff = [f"the run failed: {type(exc).__name__}: {exc}"]
            self.pair.close()
            self.pair = Pair()
        label = f"#{number} {program.name}"
        if diff:
            self.outcome.mismatched.append((program, diff))
            self.log(f"MISMATCH {label}\n{program.text()}\n" + "\n".join(diff))
        else:
            self.outcome.matched.append(program.name)
            self.log(f"match    {label}")

    def close(self) -> None:
        self.pair.close()


def run(programs: Iterable[Program], examples: int = 0, seed: int = 0, log=print) -> Outcome:
    """Check `programs`, then `examples` generated programs drawn from `seed`."""
    checker = DiffRun(log)
    try:
        for program in programs:
            checker.check(program)
        if examples:
            from .generate import each_program

            each_program(examples, seed, checker.check)
    finally:
        checker.close()
    return checker.outcome


def run_and_report(examples: int, seed: int, corpus: bool = True) -> int:
    """`metakernel-dbg difftest`: the corpus and `examples` generated programs; prints each
    mismatch and the match rate; exit 1 if any program differs."""
    from .corpus import CORPUS

    outcome = run(CORPUS if corpus else [], examples, seed)
    total = len(outcome.matched) + len(outcome.mismatched)
    print(f"match rate: {len(outcome.matched)}/{total} = {100 * outcome.rate:.1f} %")
    return 0 if not outcome.mismatched else 1
