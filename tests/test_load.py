"""Load and leaks: 1000 renders of the shipped example, 10 % failing, 8 at a time.

One warm engine (a Session with a kernel per function and concurrent render, as the batch
command starts it) renders the benchmark's mix through the batch runner. Every render must
be answered exactly once, with the result the plain-Python reference gives
(test_example_functions' Library, no kernels) or, for the failing inputs, with its trace;
the engine's memory must not grow by 10 % from render 200 to render 1000 (a resource
bound, not a timing); no kernel may be left once the session is closed.
"""

from __future__ import annotations

import gc
import json
from pathlib import Path

import psutil
from conftest import assert_processes_gone
from test_example_functions import Q999_ERROR, Library

from metakernel_dbg.batch.local import engine_settings, render_all
from metakernel_dbg.bench.renders import FAILING, GOOD, case, mixed_inputs
from metakernel_dbg.engine.functions import load_directory
from metakernel_dbg.session import Session

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "wikifunctions"
RENDERS, CONCURRENCY = 1000, 8


def rss() -> int:
    gc.collect()
    return psutil.Process().memory_info().rss


def test_1000_renders_ten_percent_failing_at_concurrency_8(monkeypatch) -> None:
    monkeypatch.setenv("WIKIFUNCTIONS_DATA", str(EXAMPLE / "data" / "entities.json"))
    reference = {(f, args): json.dumps(Library().call(f, *args)) for f, args in GOOD}
    inputs = mixed_inputs(RENDERS)  # the benchmark's mix: every tenth input fails
    functions = load_directory(str(EXAMPLE / "functions"))
    session = Session(stdout=None, stderr=None, **engine_settings(functions, CONCURRENCY))
    others = set(psutil.Process().children(recursive=True))  # not this session's
    answered: set[int] = set()
    failed = 0
    memory: dict[int, int] = {}
    try:
        session.__enter__()
        session.load_functions(functions)
        for record in render_all(session, inputs, CONCURRENCY):
            rid = record["id"]
            assert rid not in answered, f"render {rid} answered twice"
            answered.add(rid)
            function, args = case(rid)
            if (function, args) in FAILING:
                failed += 1
                assert record["status"] == "error", record
                assert record["error"] == Q999_ERROR
                trace = record["trace"]
                assert trace["trace_id"] == record["trace_id"]
                assert trace["stack"][-1]["function"] == "format_date"
            else:
                assert record["status"] == "ok", record
                assert json.dumps(record["result"]) == reference[(function, args)], record
            if len(answered) in (200, RENDERS):
                memory[len(answered)] = rss()
        kernels = [p for p in psutil.Process().children(recursive=True) if p not in others]
    finally:
        session.close()
    assert answered == set(range(RENDERS)), "every render answered exactly once"
    assert failed == RENDERS // 10
    growth = (memory[RENDERS] - memory[200]) / memory[200]
    assert growth < 0.10, f"engine RSS grew {growth:.1%} from render 200 to {RENDERS}"
    assert kernels, "the renders ran in child kernels"
    assert_processes_gone(kernels)
