"""Traces of renders: the span model, the text and JSON forms, and the schema."""

from .model import (
    ErrorInfo,
    ExitInfo,
    Frame,
    KernelInfo,
    Span,
    StackEntry,
    Trace,
    cap_json,
    cap_text,
    capture_error,
    load_schema,
    new_span_id,
    new_trace_id,
    safe_repr,
    truncated,
)

__all__ = [
    "KernelInfo", "Frame", "ErrorInfo", "ExitInfo", "Span", "StackEntry", "Trace",
    "new_trace_id", "new_span_id", "cap_text", "cap_json", "truncated", "safe_repr",
    "capture_error", "load_schema",
]  # fmt: skip
