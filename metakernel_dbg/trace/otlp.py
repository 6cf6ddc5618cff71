"""OpenTelemetry export of render traces over OTLP/HTTP (the optional `[otel]` extra).

Each span of a render's trace becomes one OpenTelemetry span with the trace and span ids
the JSON trace already has, so a render shows up in Jaeger / Tempo / Honeycomb under the
id a failed render's trace file names. Spans are built directly as the SDK's
`ReadableSpan` (they have ended already) and handed to a `BatchSpanProcessor`, which sends
them from its own thread; `close()` sends what is still queued.
"""

from __future__ import annotations

import json
from typing import Any

from .. import __version__
from .model import Span, Trace, cap_text

try:
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import Event, ReadableSpan
    from opentelemetry.sdk.trace.export import BatchSpanProcessor
    from opentelemetry.sdk.util.instrumentation import InstrumentationScope
    from opentelemetry.trace import SpanContext, SpanKind, Status, StatusCode, TraceFlags
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ImportError(
        "OTLP export needs the OpenTelemetry SDK: pip install 'metakernel_dbg[otel]'"
    ) from exc

_TRACES_PATH = "/v1/traces"
_ATTR_CAP = 4096  # characters of arguments and output kept as span attributes
_SCOPE = InstrumentationScope("metakernel_dbg", __version__)


def traces_url(endpoint: str) -> str:
    """An OTLP/HTTP base URL (`http://host:4318`) or the full traces URL."""
    endpoint = endpoint.rstrip("/")
    return endpoint if endpoint.endswith(_TRACES_PATH) else endpoint + _TRACES_PATH


def to_otel(trace: Trace, resource: Resource) -> list[ReadableSpan]:
    """The trace's spans as ended OpenTelemetry spans with the same ids."""
    trace_id = int(trace.trace_id, 16)
    return [_span(trace_id, span, resource) for span in trace.spans]


def _context(trace_id: int, span_id: str) -> SpanContext:
    return SpanContext(trace_id, int(span_id, 16), False, TraceFlags(TraceFlags.SAMPLED))


def _span(trace_id: int, span: Span, resource: Resource) -> ReadableSpan:
    kernel = span.kernel
    attributes: dict[str, Any] = {
        "metakernel.function": span.function,
        "metakernel.kernel.spec": kernel.spec,
        "metakernel.kernel.id": kernel.kernel_id,
        "host.name": kernel.host,
        "metakernel.args": cap_text(json.dumps([span.args, span.kwargs], default=repr), _ATTR_CAP),
    }
    if kernel.pid is not None:
        attributes["process.pid"] = kernel.pid
    if span.call_site:
        attributes["code.file.path"] = str(span.call_site.get("file", ""))
        attributes["code.line.number"] = int(span.call_site.get("line") or 0)
    for name in ("stdout", "stderr"):
        if getattr(span, name):
            attributes[f"metakernel.{name}"] = cap_text(getattr(span, name), _ATTR_CAP)
    if span.timed_out:
        attributes["metakernel.timed_out"] = True
    if span.exit is not None:
        if span.exit.signal is not None:
            attributes["metakernel.exit.signal"] = span.exit.signal
        if span.exit.exit_code is not None:
            attributes["metakernel.exit.code"] = span.exit.exit_code
    events, status = [], Status(StatusCode.UNSET)
    if span.status == "error":
        error = span.error
        description = f"{error.type}: {error.message}" if error else "failed"
        status = Status(StatusCode.ERROR, description)
        if error is not None:
            frames = "\n".join(
                f'  File "{f.file}", line {f.line}, in {f.function}' for f in error.frames
            )
            event = {"exception.type": error.type, "exception.message": error.message}
            event["exception.stacktrace"] = frames
            if error.propagated_from:
                event["metakernel.propagated_from"] = error.propagated_from
            events.append(Event("exception", event, timestamp=span.end_ns or span.start_ns))
    parent = _context(trace_id, span.parent_span_id) if span.parent_span_id else None
    return ReadableSpan(
        name=span.function,
        context=_context(trace_id, span.span_id),
        parent=parent,
        resource=resource,
        attributes=attributes,
        events=events,
        kind=SpanKind.INTERNAL,
        status=status,
        start_time=span.start_ns,
        end_time=span.end_ns or span.start_ns,
        instrumentation_scope=_SCOPE,
    )


class OtlpExporter:
    """Sends render traces to one OTLP/HTTP endpoint, batched, off the caller's thread."""

    def __init__(self, endpoint: str, service_name: str = "metakernel_dbg") -> None:
        self.url = traces_url(endpoint)
        self.resource = Resource.create({"service.name": service_name})
        self._processor = BatchSpanProcessor(OTLPSpanExporter(endpoint=self.url))

    def export(self, trace: Trace) -> None:
        for span in to_otel(trace, self.resource):
            self._processor.on_end(span)

    def close(self) -> None:
        self._processor.shutdown()
