"""`metakernel-dbg render DIR --inputs FILE.jsonl`: render a batch, here or on a Dask farm.

Results go to `--out` (or stdout) as they finish, one JSON line per input; the JSON trace
of every failed render goes to `--traces`, one per line. On a terminal, a progress bar
(tqdm) shows ok / failed counts and renders per second; a summary (counts, p50 / p99
latency) ends the run on stderr. Malformed input lines are reported by line number and
skipped. Exit codes: 0 all renders ok, 1 a render failed (or a line was malformed),
2 bad usage.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import time
from collections.abc import Iterator
from typing import IO, Any

from .records import BadLine, RenderInput, Summary, read_inputs


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("directory", help="function directory (NAME.py defines def NAME)")
    parser.add_argument("--inputs", required=True, metavar="FILE.jsonl", help="one render a line")
    parser.add_argument(
        "--concurrency",
        type=int,
        default=4,
        metavar="N",
        help="renders at once (per worker with --dask; default 4)",
    )
    parser.add_argument("--out", metavar="PATH", help="result lines (default: stdout)")
    parser.add_argument("--traces", metavar="PATH", help="JSON traces of the failed renders")
    parser.add_argument(
        "--timeout",
        type=float,
        default=60.0,
        metavar="S",
        help="seconds a render may take (default 60; 0: no limit)",
    )
    parser.add_argument(
        "--dask",
        metavar="ADDRESS|local",
        help="render on a Dask cluster (a scheduler address, or a LocalCluster)",
    )
    parser.add_argument("--otlp", metavar="ENDPOINT",
                        help="export every render's spans to this OTLP/HTTP endpoint")  # fmt: skip


def _usage_error(message: str) -> int:
    print(f"metakernel-dbg render: error: {message}", file=sys.stderr)
    return 2


def main(ns: argparse.Namespace) -> int:
    from ..engine.functions import DefinitionError, load_directory

    if ns.concurrency < 1:
        return _usage_error("--concurrency must be at least 1")
    if ns.timeout < 0:
        return _usage_error("--timeout must not be negative")
    try:
        functions = load_directory(ns.directory)
        with open(ns.inputs, encoding="utf-8") as f:
            total = sum(1 for line in f if line.strip())
    except (DefinitionError, OSError) as exc:
        return _usage_error(str(exc))
    ns.concurrency = min(ns.concurrency, max(1, total))  # no kernels for renders never run
    timeout = ns.timeout or None
    settings: dict[str, Any] = {"call_timeout": timeout, "render_timeout": timeout}
    if ns.otlp:
        settings["otlp"] = ns.otlp
    summary = Summary()
    with contextlib.ExitStack() as stack:
        out = _open(stack, ns.out, sys.stdout)
        traces = _open(stack, ns.traces, None)
        progress = _Progress(total)
        inputs = _inputs(ns.inputs, summary, progress)
        if ns.dask:
            records = _farm(stack, ns, inputs, settings)
        else:
            records = _local(stack, ns, functions, inputs, settings)
        started = time.perf_counter()  # the engines are up: from here on, renders
        progress.start(stack)
        for record in records:
            trace = record.pop("trace", None)
            if trace is not None and traces is not None:
                traces.write(json.dumps(trace, ensure_ascii=False, default=str) + "\n")
                traces.flush()
            out.write(json.dumps(record, ensure_ascii=False, default=str) + "\n")
            out.flush()
            summary.add(record)
            progress.rendered(summary)
    print(summary.text(time.perf_counter() - started), file=sys.stderr)
    return 0 if summary.all_ok else 1


def _open(stack: contextlib.ExitStack, path: str | None, default: IO[str] | None) -> Any:
    if path is None:
        return default
    return stack.enter_context(open(path, "w", encoding="utf-8"))


class _Progress:
    """Progress on stderr: on a terminal a tqdm bar (from when the engines are up, so that
    its rate is the renders'); skipped lines as lines; a log file gets the summary alone."""

    def __init__(self, total: int) -> None:
        self.total = total
        self.bar: Any = None

    def start(self, stack: contextlib.ExitStack) -> None:
        if sys.stderr.isatty():
            from tqdm import tqdm

            self.bar = stack.enter_context(tqdm(total=self.total, unit="render", file=sys.stderr))

    def skipped(self, bad: BadLine) -> None:
        message = f"metakernel-dbg render: skipped {bad}"
        if self.bar is None:
            print(message, file=sys.stderr)
            return
        self.bar.write(message, file=sys.stderr)
        self.bar.update(1)

    def rendered(self, summary: Summary) -> None:
        if self.bar is not None:
            self.bar.set_postfix(ok=summary.counts["ok"], failed=summary.failed)
            self.bar.update(1)


def _inputs(path: str, summary: Summary, progress: _Progress) -> Iterator[RenderInput]:
    """The renders of the input file; a malformed line is reported, counted and skipped."""
    with open(path, encoding="utf-8") as f:
        for item in read_inputs(f):
            if isinstance(item, BadLine):
                summary.bad_lines += 1
                progress.skipped(item)
                continue
            yield item


def _local(stack, ns, functions, inputs, settings) -> Iterator[dict[str, Any]]:
    from ..session import Session
    from .local import engine_settings, render_all

    session = Session(
        stdout=None, stderr=None, **engine_settings(functions, ns.concurrency), **settings
    )
    stack.callback(session.close)
    session.__enter__()
    session.load_functions(functions)
    return render_all(session, inputs, ns.concurrency)


def _farm(stack, ns, inputs, settings) -> Iterator[dict[str, Any]]:
    from distributed import Client

    from ..farm import Farm, local_cluster

    if ns.dask == "local":
        workers = max(1, min(2, os.cpu_count() or 1))
        cluster = stack.enter_context(local_cluster(workers, ns.concurrency))
        client = stack.enter_context(Client(cluster))
    else:
        client = stack.enter_context(Client(ns.dask, timeout=30))
    farm = stack.enter_context(Farm(client, ns.directory, **settings))
    return farm.map(inputs)
