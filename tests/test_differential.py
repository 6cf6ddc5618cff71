"""The debugger against the reference, stock ipykernel + debugpy running the same functions
in ONE kernel: the corpus of issue 11's cases and Hypothesis-generated programs must match
(stop for stop: reason, frames, locals, evaluate, output, error). A mismatch is printed side
by side. `metakernel-dbg difftest --examples 500` runs many more and prints the match rate."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from metakernel_dbg.difftest.compare import differences
from metakernel_dbg.difftest.corpus import CORPUS, INNER, OUTER
from metakernel_dbg.difftest.generate import each_program
from metakernel_dbg.difftest.program import Program, def_line
from metakernel_dbg.difftest.run import DiffRun

EXAMPLES = 30
SEED = 11


# -- the harness itself (pure) -----------------------------------------------------------------
def test_a_program_is_written_both_ways() -> None:
    program = Program("p", (INNER, OUTER), "r = CALL(outer, 3)\nprint(CALL(inner))\n")
    assert "total += inner(i)" in program.reference_cells()[1]
    assert 'total += call("inner", i)' in program.meta_cells()[1]
    assert program.meta_cells()[1].startswith("%%function outer\ndef outer(n):")
    assert program.meta_render() == 'r = call("outer", 3)\nprint(call("inner"))\n'
    assert def_line(program.meta_cells()[0], "inner") == 2
    assert def_line(program.reference_cells()[0], "inner") == 1


def test_differences_show_both_sides_and_mark_what_differs() -> None:
    stop = {"reason": "step", "then": "next", "frames": [], "evaluate": "1"}
    same = {"stops": [stop], "stdout": "", "error": None}
    assert differences(same, same) == []
    other = {**same, "stdout": "x\n"}
    rows = differences(same, other)
    assert rows[0].lstrip().startswith("reference")
    assert [r for r in rows if r.startswith("!")] == [
        next(r for r in rows if "stdout" in r and r.startswith("!"))
    ]


# -- against the reference, with real kernels -------------------------------------------------
@pytest.fixture(scope="module")
def checker() -> Iterator[DiffRun]:
    run = DiffRun(log=print)
    try:
        yield run
    finally:
        run.close()


def _check_all(checker: DiffRun, programs: Iterator[Program] | list[Program]) -> None:
    before = len(checker.outcome.mismatched)
    for program in programs:
        checker.check(program)
    failed = checker.outcome.mismatched[before:]
    report = "\n\n".join(f"{p.text()}\n" + "\n".join(diff) for p, diff in failed)
    assert not failed, f"{len(failed)} program(s) differ from the reference:\n{report}"


@pytest.mark.timeout(1200)
def test_the_corpus_matches_the_reference(checker: DiffRun) -> None:
    _check_all(checker, CORPUS)


@pytest.mark.timeout(1800)
def test_generated_programs_match_the_reference(checker: DiffRun) -> None:
    drawn: list[Program] = []
    each_program(EXAMPLES, SEED, drawn.append)
    assert len(drawn) == EXAMPLES
    _check_all(checker, drawn)
