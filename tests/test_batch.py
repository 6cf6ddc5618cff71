"""`metakernel-dbg render DIR --inputs FILE.jsonl`: batches of renders, as a user runs them.

Each run is a real subprocess (with its own TMPDIR, so no kernel may outlive it) on the
shipped example library with failing and malformed inputs; a terminal run goes through a
pty (pexpect) to see the progress bar. The pure part (parsing lines, statuses, summary)
is tested with plain data.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pexpect
import pytest
from test_cli import (
    CLI,
    DATA,
    FUNCTIONS_REL,
    Q42_EN,
    REPO,
    assert_no_kernels_left,
    run_cli,
    tmp,
    validate,
)
from test_example_functions import Q999_ERROR

from metakernel_dbg.batch.records import BadLine, RenderInput, Summary, read_inputs, status_of
from metakernel_dbg.trace import Trace

__all__ = ["tmp"]  # the fixture, shared with test_cli

BATCH_TIMEOUT = 300
EXAMPLE_INPUTS = REPO / "examples" / "wikifunctions" / "batch.jsonl"


def render_cli(args: list[str], tmp: str) -> subprocess.CompletedProcess[str]:
    return run_cli(args, tmp, command="render", timeout=BATCH_TIMEOUT)


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_batch_with_failing_and_malformed_inputs(tmp: str) -> None:
    """Every valid input answered exactly once, traces for exactly the failed renders,
    malformed lines reported by number and skipped, exit 1, a summary on stderr."""
    lines = [
        '{"id": "a", "function": "article_intro", "args": ["Q42", "en"]}',
        '{"id": "b", "function": "article_intro", "args": ["Q999", "en"]}',
        "this is not json",
        "",
        '{"function": "label", "args": ["Q145", "fr"]}',
        '{"id": "c", "function": "infobox", "args": ["Q999", "en"]}',
        '{"id": "a", "function": "label", "args": ["Q5", "en"]}',
        '{"id": "d", "function": "nope", "args": []}',
        '{"id": "e", "function": "label", "args": "Q5"}',
        '{"id": "f", "function": "format_quantity",'
        ' "args": [{"type": "quantity", "amount": "+12345", "unit": "1"}, "en"]}',
    ]
    inputs, out, traces = (Path(tmp) / n for n in ("in.jsonl", "out.jsonl", "traces.jsonl"))
    inputs.write_text("\n".join(lines) + "\n", encoding="utf-8")
    proc = render_cli(
        [FUNCTIONS_REL, "--inputs", str(inputs), "--out", str(out), "--traces", str(traces),
         "--concurrency", "3"],
        tmp,
    )  # fmt: skip
    assert proc.returncode == 1, proc.stderr
    results = {r["id"]: r for r in read_jsonl(out)}
    assert len(read_jsonl(out)) == len(results) == 6, "each input answered exactly once"
    assert set(results) == {"a", "b", 5, "c", "d", "f"}
    assert results["a"]["result"] == Q42_EN and results[5]["result"] == "Royaume-Uni"
    assert results["f"]["result"] == "12,345"
    statuses = {rid: r["status"] for rid, r in results.items()}
    assert statuses == {"a": "ok", "b": "error", 5: "ok", "c": "error", "d": "error", "f": "ok"}
    assert results["b"]["error"] == Q999_ERROR
    assert results["d"]["error"]["type"] == "UnknownFunctionError"
    assert all(len(r["trace_id"]) == 32 and r["ms"] > 0 for r in results.values())

    written = read_jsonl(traces)
    failed = {r["trace_id"] for r in results.values() if r["status"] != "ok"}
    assert [t["trace_id"] for t in written] and {t["trace_id"] for t in written} == failed
    assert len(written) == len(failed), "one trace per failed render, none for the others"
    for trace in written:
        validate(trace)
    b = next(t for t in written if t["trace_id"] == results["b"]["trace_id"])
    assert [e["function"] for e in b["stack"]][-1] == "format_date"

    err = proc.stderr
    assert "line 3: not JSON" in err
    assert 'line 7: id "a" was used by an earlier line' in err
    assert 'line 9: "args" must be a list' in err
    assert "6 render(s): 3 ok, 3 error, 3 malformed line(s) skipped" in err
    assert "p50" in err and "p99" in err and "renders/s" in err
    assert "\r" not in err, "no progress bar when stderr is not a terminal"


def test_results_go_to_stdout_and_all_ok_exits_0(tmp: str) -> None:
    inputs = Path(tmp) / "in.jsonl"
    inputs.write_text(
        '{"function": "label", "args": ["Q90", "de"]}\n'
        '{"function": "claim", "kwargs": {"qid": "Q42", "prop": "P27"}}\n',
        encoding="utf-8",
    )
    proc = render_cli([FUNCTIONS_REL, "--inputs", str(inputs)], tmp)
    assert proc.returncode == 0, proc.stderr
    results = sorted((json.loads(line) for line in proc.stdout.splitlines()), key=lambda r: r["id"])
    assert [(r["id"], r["result"]) for r in results] == [
        (1, "Paris"),
        (2, {"type": "item", "id": "Q145"}),
    ]


def test_timeouts_and_dead_kernels_have_their_status(tmp: str) -> None:
    functions = Path(tmp) / "functions"
    functions.mkdir()
    (functions / "nap.py").write_text(
        "def nap(s):\n    import time\n    time.sleep(s)\n    return s\n"
    )
    (functions / "crash.py").write_text(
        "def crash():\n    import os, signal\n    os.kill(os.getpid(), signal.SIGKILL)\n"
    )
    (functions / "outer.py").write_text("def outer(name, *args):\n    return call(name, *args)\n")
    inputs, out = Path(tmp) / "in.jsonl", Path(tmp) / "out.jsonl"
    inputs.write_text(
        '{"id": "slow", "function": "outer", "args": ["nap", 60]}\n'
        '{"id": "dies", "function": "outer", "args": ["crash"]}\n'
        '{"id": "fine", "function": "nap", "args": [0]}\n',
        encoding="utf-8",
    )
    proc = render_cli(
        [str(functions), "--inputs", str(inputs), "--out", str(out), "--timeout", "3"], tmp
    )
    assert proc.returncode == 1, proc.stderr
    statuses = {r["id"]: r["status"] for r in read_jsonl(out)}
    assert statuses == {"slow": "timeout", "dies": "died", "fine": "ok"}


@pytest.mark.parametrize(
    ("args", "mentions"),
    [
        (["examples/nope", "--inputs", "IN"], "examples/nope"),
        ([FUNCTIONS_REL, "--inputs", "missing.jsonl"], "missing.jsonl"),
        ([FUNCTIONS_REL, "--inputs", "IN", "--concurrency", "0"], "--concurrency"),
        ([FUNCTIONS_REL], "--inputs"),
    ],
)
def test_bad_usage_exits_2(tmp: str, args: list[str], mentions: str) -> None:
    inputs = Path(tmp) / "in.jsonl"
    inputs.write_text('{"function": "label", "args": ["Q5", "en"]}\n')
    proc = render_cli([str(inputs) if a == "IN" else a for a in args], tmp)
    assert proc.returncode == 2, proc.stderr
    assert mentions in proc.stderr and proc.stdout == ""


def test_progress_bar_on_a_terminal(tmp: str) -> None:
    """The shipped batch (examples/wikifunctions/batch.jsonl) on a pty: a tqdm bar with
    ok / failed counts and renders per second, then the summary."""
    env = dict(os.environ, WIKIFUNCTIONS_DATA=str(DATA), TMPDIR=tmp, COLUMNS="120")
    out = Path(tmp) / "out.jsonl"
    child = pexpect.spawn(
        str(CLI),
        ["render", FUNCTIONS_REL, "--inputs", str(EXAMPLE_INPUTS), "--out", str(out)],
        cwd=str(REPO),
        env=env,
        encoding="utf-8",
        timeout=BATCH_TIMEOUT,
        dimensions=(24, 120),
    )
    try:
        child.expect(pexpect.EOF)
        text = child.before
    finally:
        child.close(force=True)
    assert_no_kernels_left(tmp)
    assert child.exitstatus == 1, text
    assert "render/s" in text and "failed=2" in text and "ok=10" in text, text
    assert "12 render(s): 10 ok, 2 error" in text, text
    assert len(read_jsonl(out)) == 12


# --------------------------------------------------------------------------- pure core


def test_read_inputs_reports_each_bad_line_and_keeps_the_rest() -> None:
    lines = [
        '{"function": "f"}',
        "  ",
        "[1, 2]",
        '{"function": "f", "args": [1], "extra": 1}',
        '{"id": {"x": 1}, "function": "f"}',
        '{"id": "x", "function": "g", "kwargs": {"a": 1}}',
        '{"id": "x", "function": "g"}',
        '{"function": ""}',
    ]
    got = list(read_inputs(lines))
    assert got[0] == RenderInput(1, "f", [], {}, 1)
    assert got[4] == RenderInput("x", "g", [], {"a": 1}, 6)
    bad = {b.line: b.reason for b in got if isinstance(b, BadLine)}
    assert bad == {
        3: "not a JSON object",
        4: "unknown field(s) extra",
        5: '"id" must be a string, number or null',
        7: 'id "x" was used by an earlier line',
        8: '"function" must be a function name',
    }


def _trace(**origin: object) -> Trace:
    kernel = {"spec": "python3", "kernel_id": "", "pid": 1, "host": "h"}
    span = {
        "span_id": "a" * 16,
        "parent_span_id": None,
        "function": "f",
        "kernel": kernel,
        "args": [],
        "kwargs": {},
        "start_ns": 1,
        "status": "error",
        "error": {"type": "E", "message": "m", "frames": []},
        **origin,
    }
    return Trace.from_dict({"trace_id": "b" * 32, "spans": [span]})


def test_status_of_a_failed_render() -> None:
    assert status_of(_trace()) == "error"
    assert status_of(_trace(timed_out=True)) == "timeout"
    assert status_of(_trace(exit={"signal": 9, "exit_code": None})) == "died"


def test_summary_counts_and_percentiles() -> None:
    summary = Summary()
    for ms, status in [(10.0, "ok"), (20.0, "ok"), (30.0, "error"), (40.0, "died")]:
        summary.add({"status": status, "ms": ms})
    summary.bad_lines = 1
    assert not summary.all_ok and summary.failed == 2
    assert summary.text(2.0) == (
        "4 render(s): 2 ok, 1 error, 1 died, 1 malformed line(s) skipped; "
        "latency p50 25.0 ms, p99 39.7 ms; 2.0 renders/s"
    )
