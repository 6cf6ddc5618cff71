"""OpenTelemetry export: a Session with `otlp=` sends each render's spans over OTLP/HTTP.

The endpoint is an HTTP server inside the test (loopback) that decodes every request with
the official `opentelemetry-proto` messages; the spans must carry exactly the ids of the
JSON trace (trace id, span ids, parents), the function names and the failure.
"""

from __future__ import annotations

import gzip
import io
import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.trace.v1.trace_pb2 import Status

from metakernel_dbg import Session

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "wikifunctions"


class Collector:
    """An OTLP/HTTP traces endpoint on loopback: keeps every span it is sent, by trace id."""

    def __init__(self) -> None:
        self.spans: dict[str, list] = {}
        self.paths: list[str] = []
        collector = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                body = self.rfile.read(int(self.headers["Content-Length"]))
                if self.headers.get("Content-Encoding") == "gzip":
                    body = gzip.decompress(body)
                request = ExportTraceServiceRequest.FromString(body)
                collector.paths.append(self.path)
                for resource in request.resource_spans:
                    for scope in resource.scope_spans:
                        for span in scope.spans:
                            collector.spans.setdefault(span.trace_id.hex(), []).append(span)
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=10)


@pytest.fixture
def collector() -> Iterator[Collector]:
    c = Collector()
    try:
        yield c
    finally:
        c.close()


def test_renders_are_exported_with_the_json_trace_ids(collector, monkeypatch) -> None:
    monkeypatch.setenv("WIKIFUNCTIONS_DATA", str(EXAMPLE / "data" / "entities.json"))
    session = Session(stdout=io.StringIO(), otlp=collector.url)
    try:
        session.__enter__()
        session.load_directory(str(EXAMPLE / "functions"))
        good = session.render("article_intro", "Q42", "en")
        bad = session.render("article_intro", "Q999", "en")
    finally:
        session.close()  # flushes the exporter's queue
    assert good.ok and not bad.ok
    assert collector.paths and set(collector.paths) == {"/v1/traces"}

    expected = bad.error.trace.to_dict()
    spans = {s.span_id.hex(): s for s in collector.spans[bad.trace_id]}
    assert set(spans) == {s["span_id"] for s in expected["spans"]}
    for mine in expected["spans"]:
        theirs = spans[mine["span_id"]]
        assert theirs.name == mine["function"]
        assert (theirs.parent_span_id.hex() or None) == mine["parent_span_id"]
        assert theirs.start_time_unix_nano == mine["start_ns"]
        failed = theirs.status.code == Status.STATUS_CODE_ERROR
        assert failed == (mine["status"] == "error"), mine["function"]
    origin = next(s for s in spans.values() if s.name == "format_date")
    [event] = origin.events
    attrs = {a.key: a.value.string_value for a in event.attributes}
    assert event.name == "exception" and attrs["exception.type"] == "TypeError"

    ok_spans = collector.spans[good.trace_id]
    assert {s.name for s in ok_spans} >= {"<session>", "article_intro", "format_date"}
    assert all(s.status.code != Status.STATUS_CODE_ERROR for s in ok_spans)
    assert len(collector.spans) == 2, "one trace per render, nothing else"


def test_render_command_exports_with_otlp(collector, tmp_path) -> None:
    """`metakernel-dbg render --otlp URL`: one trace per render, under its result's trace id."""
    inputs = tmp_path / "in.jsonl"
    inputs.write_text(
        '{"id": "ok", "function": "label", "args": ["Q5", "fr"]}\n'
        '{"id": "bad", "function": "infobox", "args": ["Q999", "en"]}\n'
    )
    out = tmp_path / "out.jsonl"
    cli = Path(sys.executable).parent / "metakernel-dbg"
    env = dict(os.environ, WIKIFUNCTIONS_DATA=str(EXAMPLE / "data" / "entities.json"))
    proc = subprocess.run(
        [str(cli), "render", str(EXAMPLE / "functions"), "--inputs", str(inputs),
         "--out", str(out), "--otlp", collector.url],
        env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert proc.returncode == 1, proc.stderr
    records = {r["id"]: r for r in map(json.loads, out.read_text().splitlines())}
    assert set(collector.spans) == {records["ok"]["trace_id"], records["bad"]["trace_id"]}
    names = {s.name for s in collector.spans[records["bad"]["trace_id"]]}
    assert {"infobox", "format_value", "format_date"} <= names
