"""Tests for metakernel_dbg.trace: pure data, no kernels."""

import json
import re

import jsonschema
import pytest

from metakernel_dbg.trace import (
    ErrorInfo,
    ExitInfo,
    Frame,
    KernelInfo,
    Span,
    Trace,
    cap_json,
    cap_text,
    capture_error,
    load_schema,
    new_span_id,
    new_trace_id,
    safe_repr,
)

ROOT, OUTER, INNER = "00f067aa0ba90201", "00f067aa0ba902b7", "00f067aa0ba902c3"
TID = "4bf92f3577b34da6a3ce929d0e0e4736"


def make_trace(*, inner_exit=None, inner_timed_out=False, inner_error=True) -> Trace:
    """root (main kernel cell) -> outer (python3) -> inner (xpython), failing in inner."""
    main_k = KernelInfo("python3", "k-main", 4240, "box")
    outer_k = KernelInfo("python3", "k-outer", 4243, "box")
    inner_k = KernelInfo("xpython", "k-inner", 4242, "box")
    inner_err = None
    if inner_error:
        inner_err = ErrorInfo(
            "ZeroDivisionError",
            "division by zero",
            [Frame("/src/inner.py", 3, "inner", "return y + 1 / 0", {"x": "0", "y": "1"})],
        )
    root = Span(
        ROOT, None, "<module>", main_k, [], {}, 1, 9, "error",
        call_site=None,
        error=ErrorInfo(
            "RemoteError", "outer failed",
            [Frame("/tmp/ipykernel_4240/123.py", 1, "<module>", 'call("outer", 3)',
                   {"result": "None"})],
            propagated_from=OUTER,
        ),
    )  # fmt: skip
    outer = Span(
        OUTER, ROOT, "outer", outer_k, [3], {}, 2, 8, "error",
        call_site={"file": "/tmp/ipykernel_4240/123.py", "line": 1},
        error=ErrorInfo(
            "RemoteError", "inner failed",
            [Frame("/src/outer.py", 2, "outer", "return helper(n)", {"n": "3"}),
             Frame("/src/outer.py", 5, "helper", 'total += call("inner", i)',
                   {"n": "3", "total": "0", "i": "0"})],
            propagated_from=INNER,
        ),
    )  # fmt: skip
    inner = Span(
        INNER, OUTER, "inner", inner_k, [0], {"y": 1}, 3, 7, "error",
        stdout="hello from inner\n",
        call_site={"file": "/src/outer.py", "line": 5},
        error=inner_err, exit=inner_exit, timed_out=inner_timed_out,
    )  # fmt: skip
    ok = Span("00f067aa0ba90299", ROOT, "warmup", outer_k, [], {}, 1, 2, "ok")
    return Trace(TID, [root, ok, outer, inner])


# ------------------------------------------------------------------ ids & capping


def test_ids_format():
    tids = {new_trace_id() for _ in range(50)}
    assert len(tids) == 50
    assert all(re.fullmatch(r"[0-9a-f]{32}", t) and t != "0" * 32 for t in tids)
    sids = {new_span_id() for _ in range(50)}
    assert all(re.fullmatch(r"[0-9a-f]{16}", s) and s != "0" * 16 for s in sids)


def test_cap_text():
    assert cap_text("short", limit=10) == "short"
    out = cap_text("a" * 12355, limit=10)
    assert out == "a" * 10 + "\n… [truncated 12345 chars]"


def test_cap_json():
    small = {"a": [1, 2, 3]}
    assert cap_json(small, limit=100) is small
    big = list(range(5000))
    marker = cap_json(big, limit=4096)
    assert marker["$truncated"] is True
    assert marker["size"] == len(json.dumps(big))
    assert marker["preview"] == json.dumps(big)[:200]
    circular: list = []
    circular.append(circular)
    assert cap_json(circular)["$truncated"] is True


# ------------------------------------------------------------------ safe_repr


class Boom:
    def __repr__(self):
        raise ValueError("nope")


def test_safe_repr_raising_repr():
    assert safe_repr(Boom()) == "<unrepresentable Boom: ValueError('nope')>"
    assert safe_repr([1, Boom()]) == "[1, <unrepresentable Boom: ValueError('nope')>]"


def test_safe_repr_deep_nesting():
    deep: list = []
    cur = deep
    for _ in range(50):
        cur.append([])
        cur = cur[0]
    s = safe_repr(deep, max_depth=3)
    assert s == "[[[[...]]]]"


def test_safe_repr_huge_list():
    s = safe_repr(list(range(100_000)), max_items=5)
    assert s == "[0, 1, 2, 3, 4, ...]"
    long = safe_repr(["x" * 50] * 20, max_len=100)
    assert len(long) == 100 and long.endswith("…")
    short = safe_repr("y" * 1000, max_len=30)
    assert len(short) <= 30 and short.startswith("'yyy") and "..." in short


# ------------------------------------------------------------------ capture_error


def _outer_fn(n):
    count = n * 2  # noqa: F841
    return _inner_fn(n - n)


def _inner_fn(x):
    bad = Boom()  # noqa: F841
    return 1 / x


def test_capture_error_frames_and_locals():
    try:
        _outer_fn(3)
    except ZeroDivisionError as e:
        info = capture_error(e)
    assert info.type == "ZeroDivisionError"
    assert info.message == "division by zero"
    assert info.propagated_from is None
    assert [f.function for f in info.frames] == [
        "test_capture_error_frames_and_locals",
        "_outer_fn",
        "_inner_fn",
    ]
    inner = info.frames[-1]
    assert inner.source == "return 1 / x"
    assert inner.file == __file__
    assert inner.locals == {"x": "0", "bad": "<unrepresentable Boom: ValueError('nope')>"}
    assert info.frames[1].locals == {"n": "3", "count": "6"}


def test_capture_error_skip_and_limits(tmp_path):
    plumbing = tmp_path / "runtime.py"
    plumbing.write_text("def run(fn):\n    __hidden = 1\n    return fn()\n")
    ns: dict = {}
    exec(compile(plumbing.read_text(), str(plumbing), "exec"), ns)

    def user():
        many = {f"v{i}": i for i in range(40)}
        exec("raise KeyError('k')", {}, many)  # a <module> frame with 40 locals

    try:
        ns["run"](user)
    except KeyError as e:
        full = capture_error(e)
        skipped = capture_error(e, skip=lambda fn: fn == str(plumbing))
    files = [f.file for f in full.frames]
    assert str(plumbing) in files
    run_frame = full.frames[files.index(str(plumbing))]
    assert run_frame.source == "return fn()"
    assert "__hidden" not in run_frame.locals and "fn" in run_frame.locals
    assert str(plumbing) not in [f.file for f in skipped.frames]
    assert len(skipped.frames) == len(full.frames) - 1
    # the exec'd frame has 40 locals: capped to 30
    assert full.frames[-1].function == "<module>"
    assert len(full.frames[-1].locals) == 30
    assert full.type == "KeyError" and full.message == "'k'"


def test_capture_error_qualified_type():
    try:
        json.loads("{")
    except json.JSONDecodeError as e:
        info = capture_error(e)
    assert info.type == "json.decoder.JSONDecodeError"
    assert info.frames[0].function == "test_capture_error_qualified_type"


# ------------------------------------------------------------------ trace structure


def test_parent_links_and_propagation():
    t = make_trace()
    by_id = {s.span_id: s for s in t.spans}
    assert by_id[ROOT].parent_span_id is None
    assert by_id[OUTER].parent_span_id == ROOT
    assert by_id[INNER].parent_span_id == OUTER
    assert by_id[ROOT].error.propagated_from == OUTER
    assert by_id[OUTER].error.propagated_from == INNER
    assert by_id[INNER].error.propagated_from is None
    # ancestors hold only their own frames
    assert all(f.file == "/src/outer.py" for f in by_id[OUTER].error.frames)


def test_stack_order():
    st = make_trace().stack()
    assert [(e.span_id, e.frame.function) for e in st] == [
        (ROOT, "<module>"),
        (OUTER, "outer"),
        (OUTER, "helper"),
        (INNER, "inner"),
    ]
    assert st[-1].kernel.spec == "xpython" and st[-1].function == "inner"


def test_stack_starts_at_root_even_if_listed_last():
    t = make_trace()
    t.spans.reverse()
    assert [e.span_id for e in t.stack()][0] == ROOT


def test_stack_empty_when_ok():
    t = make_trace()
    for s in t.spans:
        s.status, s.error = "ok", None
    assert t.stack() == []
    assert "no failure" in t.to_text()
    jsonschema.validate(t.to_dict(), load_schema())


def test_to_text_chain():
    text = make_trace().to_text()
    lines = text.splitlines()
    assert lines[0] == "Traceback (most recent call last, 3 kernels):"
    seps = [ln for ln in lines if ln.startswith("── ")]
    assert len(seps) == 3
    assert seps[0].startswith("── <module> · main [python3 pid 4240] ─")
    assert seps[1].startswith(f"── outer [python3 pid 4243] span {OUTER} ─")
    assert seps[2].startswith(f"── inner [xpython pid 4242] span {INNER} ─")
    assert text.index(seps[0]) < text.index(seps[1]) < text.index(seps[2])
    assert '  File "/src/outer.py", line 5, in helper' in lines
    assert '    total += call("inner", i)' in lines
    assert "      total = 0" in lines
    assert "      x = 0" in lines
    assert lines[-1] == "ZeroDivisionError: division by zero"
    assert "warmup" not in text
    frame_lines = [ln for ln in lines if ln.startswith("  File ")]
    assert len(frame_lines) == len(make_trace().stack())


def test_to_text_color():
    text = make_trace().to_text(color=True)
    assert "\x1b[36m── inner" in text
    assert text.splitlines()[-1] == "\x1b[31mZeroDivisionError: division by zero\x1b[0m"
    assert 'File "\x1b[1m/src/inner.py\x1b[0m", line \x1b[1m3\x1b[0m' in text
    assert "\x1b" not in make_trace().to_text()


def test_to_text_kernel_killed():
    t = make_trace(inner_error=False, inner_exit=ExitInfo(9, None, "step 1\nstep 2\n"))
    lines = t.to_text().splitlines()
    assert "── inner [xpython pid 4242]" in "\n".join(lines)
    assert lines[-4:] == [
        "KernelDied: inner [xpython pid 4242] was killed by signal 9 (SIGKILL)",
        "  last output:",
        "    step 1",
        "    step 2",
    ]
    assert [e.span_id for e in t.stack()] == [ROOT, OUTER, OUTER]
    t2 = make_trace(inner_error=False, inner_exit=ExitInfo(None, 3, ""))
    assert (
        t2.to_text().splitlines()[-1] == "KernelDied: inner [xpython pid 4242] exited with code 3"
    )
    jsonschema.validate(t.to_dict(), load_schema())


def test_to_text_timeout():
    t = make_trace(inner_error=False, inner_timed_out=True)
    assert t.to_text().splitlines()[-1] == (
        "TimeoutError: inner [xpython pid 4242] did not return within the timeout"
    )
    t.spans[-1].error = ErrorInfo("TimeoutError", "inner took longer than 5s", [])
    assert t.to_text().splitlines()[-1] == "TimeoutError: inner took longer than 5s"


# ------------------------------------------------------------------ serialisation


def test_to_dict_schema_and_roundtrip():
    t = make_trace()
    t.spans[2].args = [cap_json(list(range(5000)))]
    t.spans[3].kwargs = cap_json({"blob": "z" * 10000})
    t.spans[3].stderr = cap_text("e" * 9000)
    d = t.to_dict()
    schema = load_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    jsonschema.validate(d, schema)
    assert [e["function_name"] for e in d["stack"]] == ["<module>", "outer", "helper", "inner"]
    assert d["stack"][-1]["kernel"]["spec"] == "xpython"
    assert d["stack"][-1]["locals"] == {"x": "0", "y": "1"}
    back = Trace.from_dict(json.loads(t.to_json()))
    assert back == t
    assert back.to_text() == t.to_text()


def test_schema_rejects_bad_ids():
    schema = load_schema()
    d = make_trace().to_dict()
    d["trace_id"] = "XYZ"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(d, schema)
    d = make_trace().to_dict()
    d["spans"][0]["status"] = "weird"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(d, schema)


def test_schema_describes_every_property():
    missing = []

    def walk(node, path):
        if isinstance(node, dict):
            for name, sub in node.get("properties", {}).items():
                if "description" not in sub:
                    missing.append(f"{path}.{name}")
            for k, v in node.items():
                walk(v, f"{path}.{k}")
        elif isinstance(node, list):
            for i, v in enumerate(node):
                walk(v, f"{path}[{i}]")

    walk(load_schema(), "$")
    assert missing == []


def test_text_names_every_host_once_kernels_on_several_hosts_took_part():
    trace = make_trace()
    assert " on box" not in trace.to_text()  # one host: no host names
    for span, host in zip(trace.chain(), ("A", "B", "C"), strict=True):
        span.kernel.host = host
    titles = [line for line in trace.to_text().splitlines() if line.startswith("── ")]
    assert [t.split(" on ")[1].split()[0] for t in titles] == ["A", "B", "C"]
