"""Property-based fuzzing of the debug proxy on a live meta-kernel: every generated request,
however malformed, gets exactly one debug_reply (with a message when it fails) and an idle
status; afterwards a normal debugging session still works."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_debugger import INNER, RENDER, DapClient, dap_session, start_and_define

from metakernel_dbg.debug.dapcore import KNOWN_COMMANDS

KEYS = [
    "frameId",
    "variablesReference",
    "threadId",
    "expression",
    "source",
    "breakpoints",
    "code",
    "filters",
    "variableName",
    "srcVariableName",
    "dstVariableName",
    "srcFrameId",
    "context",
    "sourceReference",
    "levels",
    "startFrame",
    "restart",
    "path",
    "line",
]
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=40),
    st.sampled_from(["1", "x", "__import__"]),
)
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(st.sampled_from(KEYS + ["line", "path"]), inner, max_size=4),
    ),
    max_leaves=12,
)
COMMANDS = st.one_of(
    st.sampled_from(sorted(KNOWN_COMMANDS - {"disconnect"})),
    st.text(max_size=20),
    st.none(),
    st.integers(),
)
REQUESTS = st.one_of(
    st.fixed_dictionaries(
        {
            "type": st.just("request"),
            "seq": st.one_of(st.integers(0, 10**6), SCALARS),
            "command": COMMANDS,
        },
        optional={
            "arguments": st.one_of(
                st.dictionaries(st.sampled_from(KEYS), VALUES, max_size=5), VALUES
            )
        },
    ),
    VALUES,
)


@pytest.fixture(scope="module")
def fuzz_dap() -> Iterator[DapClient]:
    with dap_session() as client:
        yield client


def _ask(dap: DapClient, content: Any) -> dict:
    """Send one request; its reply, and the idle status that must follow it."""
    if not isinstance(content, dict):  # a Jupyter client cannot, but raw bytes can
        content = json.dumps(content).encode()
    msg = dap.kc.session.msg("debug_request", content)
    dap.kc.control_channel.send(msg)
    msg_id = msg["header"]["msg_id"]
    deadline = time.monotonic() + 30
    reply = None
    while reply is None:
        got = dap.kc.control_channel.get_msg(timeout=max(0.01, deadline - time.monotonic()))
        if got["parent_header"].get("msg_id") == msg_id:
            reply = got
    while True:  # the idle status parented to this request
        status = dap.iopub.get(timeout=max(0.01, deadline - time.monotonic()))
        if (
            status["header"]["msg_type"] == "status"
            and status["parent_header"].get("msg_id") == msg_id
            and status["content"]["execution_state"] == "idle"
        ):
            break
    assert reply["header"]["msg_type"] == "debug_reply"
    return reply["content"]


COUNT = {"requests": 0}


@settings(
    max_examples=1000,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(request=REQUESTS, started=st.booleans())
def test_every_request_gets_one_reply(fuzz_dap: DapClient, request: Any, started: bool) -> None:
    if started and COUNT["requests"] % 200 == 0:
        _ask(fuzz_dap, {"type": "request", "seq": 1, "command": "initialize", "arguments": {}})
    COUNT["requests"] += 1
    try:
        json.dumps(request)
    except (TypeError, ValueError):
        return
    reply = _ask(fuzz_dap, request)
    assert isinstance(reply, dict) and reply.get("type") == "response", reply
    if reply.get("success") is False:
        assert isinstance(reply.get("message"), str) and reply["message"], reply


def test_huge_payload_is_refused(fuzz_dap: DapClient) -> None:
    reply = _ask(
        fuzz_dap,
        {
            "type": "request",
            "seq": 1,
            "command": "evaluate",
            "arguments": {"expression": "x" * (2 << 20)},
        },
    )
    assert reply["success"] is False and "bytes" in reply["message"]


def test_debugging_still_works_after_fuzzing(fuzz_dap: DapClient) -> None:
    assert COUNT["requests"] >= 1000
    dap = fuzz_dap
    _ask(dap, {"type": "request", "seq": 1, "command": "disconnect", "arguments": {}})
    while not dap.events.empty():
        dap.events.get()
    start_and_define(dap, INNER, 4)
    render = dap.execute(RENDER)
    dap.wait_event("stopped", timeout=60)
    assert [f["name"].split()[0] for f in dap.frames()] == ["inner", "outer", "<module>"]
    path = dap.request("dumpCell", {"code": INNER})["body"]["sourcePath"]
    dap.request(
        "setBreakpoints", {"breakpoints": [], "source": {"path": path}, "sourceModified": False}
    )
    dap.request("continue", {"threadId": 1})
    assert dap.reply(render)["status"] == "ok"
