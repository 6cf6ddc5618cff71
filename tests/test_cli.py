"""Acceptance tests of `metakernel-dbg run` (and `python -m metakernel_dbg run`).

Each run is a subprocess with a timeout. It gets its own short TMPDIR, so every kernel it
starts has its connection file under that directory: after the run, no process may still
mention it (no kernel outlived the CLI).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import jsonschema
import psutil
import pytest

from metakernel_dbg.trace import load_schema

REPO = Path(__file__).resolve().parent.parent
EXAMPLE = REPO / "examples" / "wikifunctions"
FUNCTIONS_REL = "examples/wikifunctions/functions"
DATA = EXAMPLE / "data" / "entities.json"
CLI = Path(sys.executable).parent / "metakernel-dbg"

Q42_EN = "Douglas Adams (11 March 1952 \u2013 11 May 2001) was a British writer."
Q90_EN = "Paris is a city in France with a population of 2,145,906."
FAILING_CHAIN = ["article_intro", "lifespan", "format_value", "format_date"]
#: the kernelspec of each level: the render crosses Python -> JS -> Python -> JS
KERNELS = {
    "article_intro": "python3",
    "lifespan": "metakernel_dbg_js",
    "format_value": "python3",
    "format_date": "metakernel_dbg_js",
}
Q999_FINAL = "TypeError: Cannot read properties of undefined (reading 'split')"
RUN_TIMEOUT = 180
ANSI = re.compile(r"\x1b\[")


@pytest.fixture
def tmp() -> Iterator[str]:
    """A short private TMPDIR for one CLI run (ipc socket paths must stay short)."""
    path = tempfile.mkdtemp(prefix="mkcli-")
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def kernels_using(directory: str) -> list[psutil.Process]:
    """Live processes whose command line mentions DIRECTORY (a kernel's connection file)."""
    found = []
    for proc in psutil.process_iter(["cmdline", "status"]):
        try:
            if proc.info["status"] == psutil.STATUS_ZOMBIE:
                continue
            if any(directory in part for part in proc.info["cmdline"] or []):
                found.append(proc)
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
    return found


_OURS = ("metakernel", "ipykernel", "xpython", "debugpy")


def live_children() -> list[psutil.Process]:
    """Live descendants of this test process that belong to metakernel_dbg (a CLI run or a
    kernel it started); other suites' helpers (e.g. a browser) are not ours to judge."""
    out = []
    for proc in psutil.Process().children(recursive=True):
        try:
            cmdline = " ".join(proc.cmdline())
            if proc.status() != psutil.STATUS_ZOMBIE and any(k in cmdline for k in _OURS):
                out.append(proc)
        except psutil.Error:
            continue
    return out


def assert_no_kernels_left(directory: str, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        left, children = kernels_using(directory), live_children()
        if not left and not children:
            return
        if time.monotonic() > deadline:
            desc = [(p.pid, " ".join(p.info.get("cmdline") or [])) for p in left]
            pytest.fail(f"processes survived the CLI: {desc}; our children: {children}")
        time.sleep(0.1)


def run_cli(
    args: list[str],
    tmp: str,
    *,
    module: bool = False,
    cwd: Path = REPO,
    command: str = "run",
    timeout: float = RUN_TIMEOUT,
) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, WIKIFUNCTIONS_DATA=str(DATA), TMPDIR=tmp)
    cmd = [sys.executable, "-m", "metakernel_dbg"] if module else [str(CLI)]
    proc = subprocess.run(
        [*cmd, command, *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=timeout,
    )
    assert_no_kernels_left(tmp)
    return proc


def validate(trace: dict) -> None:
    jsonschema.Draft202012Validator(load_schema()).validate(trace)


def check_text_trace(text: str, trace: dict | None = None) -> None:
    """The merged trace names every level in order, each with its kernel, the JS error last,
    and the malformed value in the JS frame's locals."""
    assert not ANSI.search(text), "colours on a non-terminal stderr"
    lines = text.rstrip("\n").splitlines()
    assert lines[0].startswith("Traceback (most recent call last"), text
    assert lines[-1] == Q999_FINAL, text
    positions = []
    for function in FAILING_CHAIN:
        match = re.search(rf"^── {function} \[{KERNELS[function]} pid (\d+)\]", text, re.M)
        assert match, f"no level {function} in:\n{text}"
        positions.append(match.start())
        if trace is not None:
            span = next(
                s for s in trace["spans"] if s["function"] == function and s["status"] == "error"
            )
            assert int(match.group(1)) == span["kernel"]["pid"]
    assert positions == sorted(positions), text
    assert re.search(r"^\s+value = \{ type: 'time', precision: 11 \}$", text, re.M), text


# --------------------------------------------------------------------------- success


def test_run_success(tmp):
    proc = run_cli([FUNCTIONS_REL, "article_intro", '"Q42"', '"en"'], tmp)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == json.dumps(Q42_EN, ensure_ascii=False) + "\n"
    assert json.loads(proc.stdout) == Q42_EN
    assert proc.stderr.strip() == ""


def test_python_dash_m_works_the_same(tmp):
    proc = run_cli([FUNCTIONS_REL, "article_intro", '"Q90"', '"en"'], tmp, module=True)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == Q90_EN
    assert proc.stdout.count("\n") == 1


def test_function_output_goes_to_stderr_and_stdout_stays_json(tmp):
    functions = Path(tmp) / "fns"
    functions.mkdir()
    (functions / "shout.py").write_text(
        "def shout(words):\n"
        "    print('shouting', len(words))\n"
        "    return [w.upper() for w in words]\n"
    )
    proc = run_cli([str(functions), "shout", '["a", "b"]'], tmp)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == ["A", "B"]
    assert "shouting 2" in proc.stderr


# --------------------------------------------------------------------------- failure


def test_run_failure_text_and_trace_json(tmp):
    trace_path = Path(tmp) / "trace.json"
    proc = run_cli(
        [FUNCTIONS_REL, "article_intro", '"Q999"', '"en"', "--trace-json", str(trace_path)], tmp
    )
    assert proc.returncode == 1, proc.stderr
    assert proc.stdout == ""
    trace = json.loads(trace_path.read_text(encoding="utf-8"))
    validate(trace)
    assert [e["function"] for e in trace["stack"]] == FAILING_CHAIN
    check_text_trace(proc.stderr, trace)
    pids = [s["kernel"]["pid"] for s in trace["spans"] if s["parent_span_id"] is not None]
    assert all(not psutil.pid_exists(p) or _is_zombie(p) for p in pids)


def test_run_failure_format_json(tmp):
    proc = run_cli([FUNCTIONS_REL, "article_intro", '"Q999"', '"en"', "--format", "json"], tmp)
    assert proc.returncode == 1, proc.stderr
    assert proc.stdout == ""
    trace = json.loads(proc.stderr)
    validate(trace)
    assert [e["function"] for e in trace["stack"]] == FAILING_CHAIN
    origin = trace["stack"][-1]
    assert origin["file"] == str(EXAMPLE / "functions" / "format_date.js")
    assert origin["source"].startswith("const [date] = value.time.split('T');")
    assert origin["locals"]["value"] == "{ type: 'time', precision: 11 }"


def test_run_timeout(tmp):
    functions = Path(tmp) / "fns"
    functions.mkdir()
    (functions / "nap.py").write_text("def nap(s):\n    import time\n    time.sleep(s)\n")
    started = time.monotonic()
    proc = run_cli([str(functions), "nap", "30", "--timeout", "2"], tmp)
    assert time.monotonic() - started < 25  # only catches a hang
    assert proc.returncode == 1, proc.stderr
    assert "did not return within 2 s" in proc.stderr
    assert proc.stdout == ""


def _is_zombie(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


# --------------------------------------------------------------------------- bad usage


@pytest.mark.parametrize(
    ("args", "mentions"),
    [
        (["examples/wikifunctions/no-such-dir", "article_intro", '"Q42"'], "no-such-dir"),
        ([FUNCTIONS_REL, "no_such_function", '"Q42"'], "no_such_function"),
        ([FUNCTIONS_REL, "article_intro", "{bad", '"en"'], "{bad"),
    ],
    ids=["missing-dir", "unknown-function", "invalid-json"],
)
def test_bad_usage_exits_2_with_one_line(tmp, args, mentions):
    proc = run_cli(args, tmp)
    assert proc.returncode == 2, (proc.stdout, proc.stderr)
    assert proc.stdout == ""
    lines = proc.stderr.splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("metakernel-dbg: error: ")
    assert mentions in lines[0]
    assert os.listdir(tmp) == []  # no engine (hence no kernel) was started
