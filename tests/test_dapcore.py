"""Sans-IO debug core, driven with the DAP exchange recorded in the protocol reference (§14)."""

from __future__ import annotations

import copy
import json
import os
import re
from pathlib import Path

import debugpy
import pytest

from metakernel_dbg.debug import dapcore
from metakernel_dbg.debug.dapcore import (
    KNOWN_COMMANDS,
    VIRTUAL_THREAD_ID,
    BreakpointBook,
    IdMap,
    Level,
    StaleId,
    StopState,
    cell_path,
    debug_info_body,
    error_response,
    initialize_body,
    inspected_scopes,
    is_plumbing,
    merge_stack,
    renumber_child_body,
    response,
    threads_body,
    translate_child_event,
    validate_request,
)

PREFIX = "/tmp/ipykernel_mkdbg_1234/"
F_PATH = "/tmp/ipykernel_12345/2452315498.py"
MODULE_PATH = "/tmp/ipykernel_12345/3515424550.py"
PKG = str(Path(dapcore.__file__).parent)
SITE = "/work/venv/lib/python3.11/site-packages"

# --- §14 example exchange (ipykernel 7.4), verbatim -------------------------------------------
STACKTRACE_BODY = {
    "stackFrames": [
        {
            "id": 7,
            "name": "f",
            "line": 4,
            "column": 1,
            "source": {"path": F_PATH, "sourceReference": 0},
        },
        {
            "id": 8,
            "name": "<module>",
            "line": 1,
            "column": 1,
            "source": {"path": MODULE_PATH, "sourceReference": 1},
        },
    ],
    "totalFrames": 2,
}
SCOPES_BODY = {
    "scopes": [
        {
            "name": "Locals",
            "variablesReference": 9,
            "expensive": False,
            "presentationHint": "locals",
            "source": {},
        },
        {"name": "Globals", "variablesReference": 10, "expensive": False, "source": {}},
    ]
}
VARIABLES_BODY = {
    "variables": [
        {"name": "i", "value": "0", "type": "int", "evaluateName": "i", "variablesReference": 0},
        {"name": "n", "value": "3", "type": "int", "evaluateName": "n", "variablesReference": 0},
        {
            "name": "total",
            "value": "0",
            "type": "int",
            "evaluateName": "total",
            "variablesReference": 0,
        },
    ]
}
STOPPED_BP = {
    "seq": 23,
    "type": "event",
    "event": "stopped",
    "body": {
        "reason": "breakpoint",
        "threadId": 1,
        "preserveFocusHint": False,
        "allThreadsStopped": True,
        "hitBreakpointIds": [0],
    },
}
CONTINUED = {
    "seq": 55,
    "type": "event",
    "event": "continued",
    "body": {"threadId": 1, "allThreadsContinued": True},
}
STOPPED_STEP = {
    "seq": 56,
    "type": "event",
    "event": "stopped",
    "body": {
        "reason": "step",
        "threadId": 1,
        "preserveFocusHint": False,
        "allThreadsStopped": True,
    },
}
SET_BREAKPOINTS_ARGS = {
    "breakpoints": [{"line": 4}],
    "source": {"path": F_PATH},
    "sourceModified": False,
}
SET_BREAKPOINTS_CHILD_BODY = {
    "breakpoints": [{"verified": True, "id": 0, "source": {"path": F_PATH}, "line": 4}]
}
DEBUG_INFO_REPLY_BODY = {
    "isStarted": False,
    "hashMethod": "Murmur2",
    "hashSeed": 3339675911,
    "tmpFilePrefix": "/tmp/ipykernel_12345/",
    "tmpFileSuffix": ".py",
    "breakpoints": [],
    "stoppedThreads": [],
    "richRendering": True,
    "exceptionPaths": ["Python Exceptions"],
    "copyToGlobals": True,
}

# --- synthetic 3-level render: main <module> -> outer (waiting) -> inner (stopped) -------------
INNER_CELL = "%%function inner\ndef inner(x):\n    y = x * 2\n    return y\n"
OUTER_CELL = "%%function outer\ndef outer(x):\n    z = inner(x) + 1\n    return z\n"
MAIN_CELL = "print(outer(3))\n"
INNER_PATH, OUTER_PATH, MAIN_PATH = (
    cell_path(PREFIX, c) for c in (INNER_CELL, OUTER_CELL, MAIN_CELL)
)


def inner_frames() -> list[dict]:
    """Raw debugpy frames of the stopped inner kernel, with its plumbing below the user code."""
    return [
        {"id": 7, "name": "inner", "line": 3, "column": 1, "source": {"path": INNER_PATH}},
        {"id": 8, "name": "serve_call", "line": 88, "source": {"path": f"{PKG}/runtime.py"}},
        {
            "id": 9,
            "name": "do_execute",
            "line": 775,
            "column": 1,
            "source": {"path": f"{SITE}/ipykernel/ipkernel.py"},
        },
    ]


def levels(inner_frames_: list[dict] | None = None) -> list[Level]:
    return [
        Level("inner#1", "inner", "python3", 4242, inner_frames_ or inner_frames(), stopped=True),
        Level(
            "outer#1",
            "outer",
            "python3",
            4243,
            [
                {"name": "call", "file": f"{PKG}/runtime.py", "line": 120},
                {"name": "outer", "file": OUTER_PATH, "line": 3},
                {"name": "run_code", "file": f"{SITE}/IPython/core/interactiveshell.py", "line": 3},
            ],
        ),
        Level(
            "main",
            "<module>",
            "python3",
            4240,
            [
                {"name": "call", "file": f"{PKG}/runtime.py", "line": 120},
                {"name": "<module>", "file": MAIN_PATH, "line": 1},
                {
                    "name": "_run_once",
                    "file": "/usr/lib/python3.11/asyncio/base_events.py",
                    "line": 1,
                },
            ],
        ),
    ]


# ============================================================================ IdMap


def test_idmap_same_key_same_id_and_one_counter_for_all_kinds():
    ids = IdMap()
    a = ids.virtual("frame", ("inner#1", 7))
    assert ids.virtual("frame", ("inner#1", 7)) == a
    b = ids.virtual("variables", ("inner#1", 7))  # same key, other kind: other number
    c = ids.virtual("source", "x")
    d = ids.virtual("breakpoint", ("p", 1))
    assert len({a, b, c, d}) == 4
    assert all(0 < v < 2**31 for v in (a, b, c, d))
    assert ids.resolve("frame", a) == ("inner#1", 7)
    assert ids.resolve("variables", b) == ("inner#1", 7)
    with pytest.raises(StaleId):
        ids.resolve("variables", a)  # a frame id is not a variables id


def test_idmap_invalidate_drops_stopped_state_only_and_never_reuses_numbers():
    ids = IdMap()
    frame = ids.virtual("frame", ("outer#1", "callerframe", 0))
    var = ids.virtual("variables", ("child", "inner#1", 9))
    src = ids.virtual("source", ("inner#1", 1))
    bp = ids.virtual("breakpoint", (F_PATH, 4))
    ids.invalidate_stopped_state()
    for kind, vid in (("frame", frame), ("variables", var)):
        with pytest.raises(StaleId) as err:
            ids.resolve(kind, vid)
        assert err.value.kind == kind and err.value.vid == vid
        assert f"{kind} id {vid}" in str(err.value) and "only while stopped" in str(err.value)
    assert ids.resolve("source", src) == ("inner#1", 1)
    assert ids.resolve("breakpoint", bp) == (F_PATH, 4)
    again = ids.virtual("frame", ("outer#1", "callerframe", 0))
    assert again not in (frame, var, src, bp) and again > bp


@pytest.mark.parametrize("vid", [True, False, "7", 7.0, -1, 0, None, [1], 12345])
def test_idmap_resolve_rejects_unknown_and_ill_typed(vid):
    ids = IdMap()
    for _ in range(3):
        ids.virtual("frame", object())
    ids.virtual("frame", "one")  # ids 1..4 exist; True == 1 must still not resolve
    with pytest.raises(StaleId, match=re.escape(f"unknown or stale frame id {vid!r}")):
        ids.resolve("frame", vid)


def test_idmap_unknown_kind():
    with pytest.raises(ValueError, match="unknown id kind 'thread'"):
        IdMap().virtual("thread", 1)


# ============================================================================ stacks


@pytest.mark.parametrize(
    "path, expected",
    [
        (f"{PKG}/runtime.py", True),
        (f"{PKG}/callplane/server.py", True),
        (f"{SITE}/metakernel_dbg/runtime.py", True),
        (f"{SITE}/ipykernel/ipkernel.py", True),
        (f"{SITE}/IPython/core/interactiveshell.py", True),
        (f"{SITE}/tornado/ioloop.py", True),
        (f"{SITE}/debugpy/_vendored/pydevd/pydevd.py", True),
        ("/usr/lib/python3.11/dist-packages/zmq/sugar/socket.py", True),
        (f"{SITE}/ipykernel_launcher.py", True),
        ("/usr/lib/python3.11/asyncio/base_events.py", True),
        ("<frozen runpy>", True),
        ("/usr/lib/python3.11/runpy.py", True),
        ("C:\\Python311\\Lib\\site-packages\\ipykernel\\kernelbase.py", True),
        (INNER_PATH, False),
        ("/tmp/ipykernel_12345/2452315498.py", False),
        (f"{SITE}/numpy/core/fromnumeric.py", False),
        (f"{SITE}/ipykernel_helpers/x.py", False),
        ("/home/u/IPython_notes/analysis.py", False),
        ("/home/u/myrunpy.py", False),
        ("<string>", False),
        ("", False),
        (None, False),
    ],
)
def test_is_plumbing(path, expected):
    assert is_plumbing(path) is expected


def test_merge_stack_three_levels():
    ids = IdMap()
    frames = merge_stack(levels(), ids)
    assert [f["name"] for f in frames] == [
        "inner  [python3 pid 4242]",
        "outer  [python3 pid 4243]",
        "<module>  [main pid 4240]",
    ]
    assert [f["source"] for f in frames] == [
        {"path": INNER_PATH, "sourceReference": 0},
        {"path": OUTER_PATH, "sourceReference": 0},
        {"path": MAIN_PATH, "sourceReference": 0},
    ]
    assert [(f["line"], f["column"]) for f in frames] == [(3, 1), (3, 1), (1, 1)]
    assert len({f["id"] for f in frames}) == 3
    assert all(0 < f["id"] < 2**31 for f in frames)
    # what each virtual frame maps to; caller frame_index counts the list as given (plumbing incl.)
    assert [ids.resolve("frame", f["id"]) for f in frames] == [
        ("child", "inner#1", 7),
        ("caller", "outer#1", 1),
        ("caller", "main", 1),
    ]


def test_merge_stack_ids_stable_while_stopped_and_stale_after_invalidate():
    ids = IdMap()
    first = merge_stack(levels(), ids)
    assert merge_stack(levels(), ids) == first
    ids.invalidate_stopped_state()
    for frame in first:
        with pytest.raises(StaleId):
            ids.resolve("frame", frame["id"])
    fresh = merge_stack(levels(), ids)
    assert not {f["id"] for f in fresh} & {f["id"] for f in first}


def test_merge_stack_reference_stack_single_main_level():
    """§14's stack as the main kernel's own stop: both frames kept, labelled main."""
    ids = IdMap()
    level = Level("main", "<module>", "python3", 4240, STACKTRACE_BODY["stackFrames"], True)
    frames = merge_stack([level], ids)
    assert frames == [
        {
            "id": frames[0]["id"],
            "name": "f  [main pid 4240]",
            "line": 4,
            "column": 1,
            "source": {"path": F_PATH, "sourceReference": 0},
        },
        {
            "id": frames[1]["id"],
            "name": "<module>  [main pid 4240]",
            "line": 1,
            "column": 1,
            "source": {"path": MODULE_PATH, "sourceReference": 0},  # child's 1 not leaked
        },
    ]
    assert ids.resolve("frame", frames[1]["id"]) == ("child", "main", 8)


def test_merge_stack_kernelspec_and_missing_column():
    ids = IdMap()
    lv = levels()
    lv[0] = Level(
        "inner#1", "inner", "xpython", 5555, [{**inner_frames()[0], "column": None}], True
    )
    frames = merge_stack(lv, ids)
    assert frames[0]["name"] == "inner  [xpython pid 5555]" and frames[0]["column"] == 1


def test_merge_stack_rejects_stopped_outer_level():
    lv = levels()
    lv[1].stopped = True
    with pytest.raises(ValueError, match="innermost"):
        merge_stack(lv, IdMap())


def test_inspected_scopes():
    ids = IdMap()
    scopes = inspected_scopes(ids, ("caller", "outer#1", 1))
    assert [s["name"] for s in scopes] == ["Locals", "Globals"]
    assert scopes[0]["presentationHint"] == "locals" and "presentationHint" not in scopes[1]
    assert [ids.resolve("variables", s["variablesReference"]) for s in scopes] == [
        ("caller", "outer#1", 1, "locals"),
        ("caller", "outer#1", 1, "globals"),
    ]
    assert inspected_scopes(ids, ("caller", "outer#1", 1)) == scopes  # stable while stopped


# ============================================================================ renumbering


def test_renumber_scopes_and_variables_from_reference():
    ids = IdMap()
    original = copy.deepcopy(SCOPES_BODY)
    scopes = renumber_child_body("scopes", SCOPES_BODY, ids, "inner#1")
    assert SCOPES_BODY == original  # input untouched
    refs = [s["variablesReference"] for s in scopes["scopes"]]
    assert [ids.resolve("variables", r) for r in refs] == [
        ("child", "inner#1", 9),
        ("child", "inner#1", 10),
    ]
    assert scopes["scopes"][0]["name"] == "Locals" and scopes["scopes"][0]["source"] == {}
    assert renumber_child_body("variables", VARIABLES_BODY, ids, "inner#1") == VARIABLES_BODY  # 0s


def test_renumber_colliding_children_and_huge_raw_ids():
    ids = IdMap()
    raw = 139734185954432  # ipykernel VariableExplorer: a CPython id()
    body = {"variables": [{"name": "d", "value": "{}", "variablesReference": raw}]}
    a = renumber_child_body("inspectVariables", body, ids, "main")
    b = renumber_child_body("inspectVariables", body, ids, "inner#1")
    va, vb = a["variables"][0]["variablesReference"], b["variables"][0]["variablesReference"]
    assert 0 < va < 2**31 and 0 < vb < 2**31 and va != vb
    assert ids.resolve("variables", va) == ("child", "main", raw)
    assert renumber_child_body("inspectVariables", body, ids, "main") == a  # stable


@pytest.mark.parametrize("command", ["evaluate", "setExpression", "copyToGlobals"])
def test_renumber_top_level_reference(command):
    ids = IdMap()
    body = {"result": "[1, 2]", "type": "list", "variablesReference": 12}
    out = renumber_child_body(command, body, ids, "inner#1")
    assert ids.resolve("variables", out["variablesReference"]) == ("child", "inner#1", 12)
    assert out["result"] == "[1, 2]"
    zero = {"value": "0", "type": "int", "presentationHint": {}, "variablesReference": 0}
    assert renumber_child_body(command, zero, ids, "inner#1") == zero


def test_renumber_leaves_other_commands_alone():
    body = {"variablesReference": 5}
    assert renumber_child_body("stackTrace", body, IdMap(), "x") is body
    assert renumber_child_body("source", [None], IdMap(), "x") == [None]  # xeus-python's body


# ============================================================================ events


def test_reference_stop_step_sequence():
    ids = IdMap()
    state = StopState(ids)
    assert state.stopped_threads == []
    out = translate_child_event("main", STOPPED_BP, state)
    assert out == [
        {
            "seq": 1,
            "type": "event",
            "event": "stopped",
            "body": {
                "reason": "breakpoint",
                "threadId": VIRTUAL_THREAD_ID,
                "preserveFocusHint": False,
                "allThreadsStopped": True,
            },  # child bp 0 unknown (no book) -> dropped
        }
    ]
    assert (state.owner, state.child_thread_id, state.stopped_threads) == ("main", 1, [1])
    frame = merge_stack([Level("main", "<module>", "python3", 1, inner_frames(), True)], ids)[0]
    assert translate_child_event("main", CONTINUED, state) == [
        {
            "seq": 2,
            "type": "event",
            "event": "continued",
            "body": {"threadId": 1, "allThreadsContinued": True},
        }
    ]
    assert state.stopped_threads == [] and state.owner is None
    with pytest.raises(StaleId):
        ids.resolve("frame", frame["id"])
    out = translate_child_event("main", STOPPED_STEP, state)
    assert [e["event"] for e in out] == ["stopped"] and out[0]["body"]["reason"] == "step"
    assert out[0]["seq"] == 3


def test_continued_inserted_before_a_second_stopped():
    ids = IdMap()
    state = StopState(ids)
    translate_child_event("inner#1", STOPPED_BP, state)
    frame_id = merge_stack(levels(), ids)[0]["id"]
    # step-out: inner returns, its caller stops -- no continued from inner arrived first
    out = translate_child_event(
        "outer#1", {**STOPPED_STEP, "body": {**STOPPED_STEP["body"], "threadId": 5}}, state
    )
    assert [(e["event"], e["body"]["threadId"]) for e in out] == [("continued", 1), ("stopped", 1)]
    assert out[0]["seq"] < out[1]["seq"]
    assert (state.owner, state.child_thread_id) == ("outer#1", 5)
    with pytest.raises(StaleId):
        ids.resolve("frame", frame_id)
    # a late continued from the child that is no longer stopped must not clear the new stop
    assert translate_child_event("inner#1", CONTINUED, state) == []
    assert state.stopped_threads == [1]


def test_continued_only_for_the_stopped_thread_or_all():
    state = StopState(IdMap())
    assert translate_child_event("main", CONTINUED, state) == []  # nothing stopped
    translate_child_event("main", STOPPED_BP, state)
    other = {"event": "continued", "body": {"threadId": 3, "allThreadsContinued": False}}
    assert translate_child_event("main", other, state) == []
    same = {"event": "continued", "body": {"threadId": 1, "allThreadsContinued": False}}
    assert [e["event"] for e in translate_child_event("main", same, state)] == ["continued"]


@pytest.mark.parametrize("name", ["exited", "terminated"])
def test_stopped_child_going_away_continues_the_virtual_thread(name):
    state = StopState(IdMap())
    translate_child_event("inner#1", STOPPED_BP, state)
    assert translate_child_event("outer#1", {"event": name, "body": {}}, state) == []
    out = translate_child_event("inner#1", {"event": name, "body": {"exitCode": 0}}, state)
    assert [(e["event"], e["body"]) for e in out] == [
        ("continued", {"threadId": 1, "allThreadsContinued": True})
    ]


@pytest.mark.parametrize(
    "event",
    [
        {"event": "thread", "body": {"reason": "started", "threadId": 4}},
        {"event": "process", "body": {"name": "x", "systemProcessId": 4242}},
        {"event": "module", "body": {"reason": "new", "module": {"id": 3, "name": "json"}}},
        {"event": "initialized"},
        {"event": "debugpyWaitingForServer", "body": {"host": "127.0.0.1", "port": 5678}},
        {"event": "debugpySockets", "body": {"sockets": []}},
        {"event": "breakpoint", "body": {"reason": "changed", "breakpoint": {"id": 0}}},
        {"event": "output", "body": {"category": "telemetry", "output": "ptvsd"}},
        {"event": "somethingNew", "body": {}},
    ],
)
def test_child_internal_events_are_dropped(event):
    assert translate_child_event("inner#1", event, StopState(IdMap())) == []


def test_output_passes_with_proxy_seq_and_renumbered_reference():
    ids = IdMap()
    state = StopState(ids)
    state.event("initialized")  # the proxy's own event takes seq 1
    body = {"category": "stdout", "output": "hi\n", "variablesReference": 3}
    (out,) = translate_child_event("inner#1", {"seq": 99, "event": "output", "body": body}, state)
    assert out["seq"] == 2 and out["type"] == "event" and out["event"] == "output"
    assert out["body"]["output"] == "hi\n"
    assert ids.resolve("variables", out["body"]["variablesReference"]) == ("child", "inner#1", 3)


def test_hit_breakpoint_ids_mapped_through_the_book():
    ids = IdMap()
    book = BreakpointBook(ids)
    state = StopState(ids, book)
    reply = book.set_breakpoints(F_PATH, SET_BREAKPOINTS_ARGS["breakpoints"])
    vid = reply["breakpoints"][0]["id"]
    book.record_child_reply("main", SET_BREAKPOINTS_ARGS, SET_BREAKPOINTS_CHILD_BODY)
    (out,) = translate_child_event("main", STOPPED_BP, state)
    assert out["body"]["hitBreakpointIds"] == [vid]
    # the same child id from another child is unknown -> dropped
    translate_child_event("main", CONTINUED, state)
    (out,) = translate_child_event("inner#1", STOPPED_BP, state)
    assert "hitBreakpointIds" not in out["body"]


# ============================================================================ requests

VALID_REQUESTS = [
    {"type": "request", "seq": 0, "command": "debugInfo"},  # no arguments key
    {"type": "request", "seq": 1, "command": "debugInfo", "arguments": {}},
    {
        "type": "request",
        "seq": 2,
        "command": "initialize",
        "arguments": dapcore.jupyterlab_initialize("metakernel_dbg"),
    },
    {"type": "request", "seq": 5, "command": "attach", "arguments": {}},
    {"type": "request", "seq": 6, "command": "configurationDone", "arguments": {}},
    {"type": "request", "seq": 19, "command": "dumpCell", "arguments": {"code": "x = 1\n"}},
    {"type": "request", "seq": 21, "command": "setBreakpoints", "arguments": SET_BREAKPOINTS_ARGS},
    {
        "seq": 22,
        "command": "setBreakpoints",
        "arguments": {"source": {"path": F_PATH}, "breakpoints": []},
    },
    {"seq": 23, "command": "setExceptionBreakpoints", "arguments": {"filters": []}},
    {
        "seq": 24,
        "command": "setExceptionBreakpoints",
        "arguments": {"filters": ["raised", "uncaught"]},
    },
    {"type": "request", "seq": 27, "command": "stackTrace", "arguments": {"threadId": 1}},
    {"seq": 27, "command": "stackTrace", "arguments": {}},
    {"type": "request", "seq": 28, "command": "scopes", "arguments": {"frameId": 7}},
    {"type": "request", "seq": 29, "command": "variables", "arguments": {"variablesReference": 9}},
    {
        "seq": 30,
        "command": "variables",
        "arguments": {"variablesReference": 9, "start": 0, "count": 10},
    },
    {"seq": 31, "command": "continue", "arguments": {"threadId": 1}},
    {"seq": 32, "command": "pause", "arguments": {"threadId": 1}},
    {"seq": 33, "command": "pause", "arguments": {}},
    {"type": "request", "seq": 45, "command": "next", "arguments": {"threadId": 1}},
    {"seq": 46, "command": "stepIn", "arguments": {"threadId": 1}},
    {"seq": 47, "command": "stepOut", "arguments": {"threadId": 1}},
    {
        "seq": 48,
        "command": "evaluate",
        "arguments": {"context": "repl", "expression": "x", "frameId": 7},
    },
    {"seq": 49, "command": "evaluate", "arguments": {"context": "repl", "expression": "x"}},
    {
        "seq": 34,
        "command": "source",
        "arguments": {"source": {"sourceReference": 0, "path": F_PATH}, "sourceReference": 0},
    },
    {"seq": 35, "command": "source", "arguments": {"source": {"path": F_PATH}}},
    {"seq": 36, "command": "source", "arguments": {"sourceReference": 3}},
    {"seq": 37, "command": "inspectVariables", "arguments": {}},
    {
        "seq": 38,
        "command": "richInspectVariables",
        "arguments": {"variableName": "df", "frameId": 7},
    },
    {"seq": 39, "command": "richInspectVariables", "arguments": {"variableName": "df"}},
    {
        "seq": 40,
        "command": "copyToGlobals",
        "arguments": {"srcVariableName": "y", "dstVariableName": "y_copy", "srcFrameId": 7},
    },
    {"seq": 41, "command": "modules", "arguments": {}},
    {
        "seq": 42,
        "command": "disconnect",
        "arguments": {"restart": False, "terminateDebuggee": False},
    },
    {"seq": 43, "command": "threads"},
    {"seq": 44, "command": "exceptionInfo", "arguments": {"threadId": 1}},
]


def test_valid_requests_cover_every_known_command():
    assert {r["command"] for r in VALID_REQUESTS} == KNOWN_COMMANDS
    assert len(KNOWN_COMMANDS) == 24


@pytest.mark.parametrize("request_", VALID_REQUESTS, ids=lambda r: f"{r['command']}-{r['seq']}")
def test_valid_requests(request_):
    assert validate_request(request_) is None


def req(command, arguments=None, **top):
    out = {"type": "request", "seq": 3, "command": command, **top}
    if arguments is not None:
        out["arguments"] = arguments
    return out


MALFORMED = [
    (["debugInfo"], "must be a JSON object, got list"),
    ("debugInfo", "must be a JSON object, got str"),
    (None, "must be a JSON object, got NoneType"),
    ({"type": "request", "seq": 1}, "has no 'command'"),
    ({"seq": 1, "command": 7}, "'command' must be a string, got int"),
    ({"seq": 1, "command": None}, "'command' must be a string, got NoneType"),
    ({"command": "debugInfo"}, "has no 'seq'"),
    ({"seq": "1", "command": "debugInfo"}, "'seq' must be a non-negative integer, got str"),
    ({"seq": 1.0, "command": "debugInfo"}, "'seq' must be a non-negative integer, got float"),
    ({"seq": True, "command": "debugInfo"}, "'seq' must be a non-negative integer, got bool"),
    ({"seq": -1, "command": "debugInfo"}, "'seq' must be a non-negative integer, got int"),
    ({"type": "event", "seq": 1, "command": "debugInfo"}, "'type' must be 'request'"),
    (req("launch", {}), "unknown debug command 'launch'"),
    (req("setVariable", {}), "unknown debug command 'setVariable'"),
    (req("", {}), "unknown debug command ''"),
    (req("attach", ["x"]), "attach: 'arguments' must be an object, got list"),
    (req("debugInfo", "nope"), "debugInfo: 'arguments' must be an object, got str"),
    (req("setBreakpoints"), "setBreakpoints: missing required argument 'source'"),
    (req("setBreakpoints", {"source": "p", "breakpoints": []}), "'source' must be an object"),
    (req("setBreakpoints", {"source": {}, "breakpoints": []}), "'source.path' must be a string"),
    (
        req("setBreakpoints", {"source": {"path": 3}, "breakpoints": []}),
        "'source.path' must be a string",
    ),
    (
        req("setBreakpoints", {"source": {"path": F_PATH}}),
        "missing required argument 'breakpoints'",
    ),
    (
        req("setBreakpoints", {"source": {"path": F_PATH}, "breakpoints": {}}),
        "'breakpoints' must be a list",
    ),
    (
        req("setBreakpoints", {"source": {"path": F_PATH}, "breakpoints": [4]}),
        "positive int 'line'",
    ),
    (
        req("setBreakpoints", {"source": {"path": F_PATH}, "breakpoints": [{}]}),
        "positive int 'line'",
    ),
    (
        req("setBreakpoints", {"source": {"path": F_PATH}, "breakpoints": [{"line": 0}]}),
        "positive int 'line'",
    ),
    (
        req("setBreakpoints", {"source": {"path": F_PATH}, "breakpoints": [{"line": "4"}]}),
        "positive int 'line'",
    ),
    (
        req("setBreakpoints", {"source": {"path": F_PATH}, "breakpoints": [{"line": True}]}),
        "positive int 'line'",
    ),
    (req("scopes", {}), "scopes: missing required argument 'frameId'"),
    (req("scopes", {"frameId": "7"}), "scopes: argument 'frameId' must be an integer, got str"),
    (req("scopes", {"frameId": 7.5}), "argument 'frameId' must be an integer, got float"),
    (req("variables", {}), "variables: missing required argument 'variablesReference'"),
    (req("variables", {"variablesReference": None}), "'variablesReference' must be an integer"),
    (req("variables", {"variablesReference": 9, "count": "all"}), "'count' must be an integer"),
    (req("evaluate", {"frameId": 7}), "evaluate: missing required argument 'expression'"),
    (req("evaluate", {"expression": 1}), "'expression' must be a string, got int"),
    (req("evaluate", {"expression": "x", "frameId": "7"}), "'frameId' must be an integer"),
    (req("evaluate", {"expression": "x", "context": 3}), "'context' must be a string"),
    (req("continue", {}), "continue: missing required argument 'threadId'"),
    (req("continue"), "continue: missing required argument 'threadId'"),
    (req("next", {"threadId": "1"}), "next: argument 'threadId' must be an integer"),
    (req("stepIn", {"threadId": None}), "stepIn: argument 'threadId' must be an integer"),
    (req("stepOut", {}), "stepOut: missing required argument 'threadId'"),
    (req("pause", {"threadId": "all"}), "pause: argument 'threadId' must be an integer"),
    (req("stackTrace", {"threadId": [1]}), "stackTrace: argument 'threadId' must be an integer"),
    (req("exceptionInfo", {}), "exceptionInfo: missing required argument 'threadId'"),
    (req("dumpCell", {}), "dumpCell: missing required argument 'code'"),
    (req("dumpCell", {"code": None}), "dumpCell: argument 'code' must be a string"),
    (req("source", {}), "needs 'source.path' (string) or 'sourceReference' (integer)"),
    (req("source", {"source": {"path": 1}}), "needs 'source.path' (string) or 'sourceReference'"),
    (req("source", {"source": "x"}), "source: argument 'source' must be an object"),
    (req("richInspectVariables", {}), "missing required argument 'variableName'"),
    (req("richInspectVariables", {"variableName": 3}), "'variableName' must be a string"),
    (req("copyToGlobals", {"srcVariableName": "y", "dstVariableName": "y"}), "'srcFrameId'"),
    (
        req("copyToGlobals", {"srcVariableName": "a b", "dstVariableName": "y", "srcFrameId": 7}),
        "'srcVariableName' must be a Python identifier",
    ),
    (
        req(
            "copyToGlobals", {"srcVariableName": "y", "dstVariableName": "x']=1#", "srcFrameId": 7}
        ),
        "'dstVariableName' must be a Python identifier",
    ),
    (
        req("copyToGlobals", {"srcVariableName": "y", "dstVariableName": "z", "srcFrameId": "7"}),
        "'srcFrameId' must be an integer",
    ),
    (req("setExceptionBreakpoints", {}), "missing required argument 'filters'"),
    (req("setExceptionBreakpoints", {"filters": "raised"}), "'filters' must be a list"),
    (
        req("setExceptionBreakpoints", {"filters": ["raised", 1]}),
        "filters must be strings, got int",
    ),
    (req("disconnect", {"restart": "no"}), "'restart' must be a boolean"),
]


@pytest.mark.parametrize("request_, message", MALFORMED, ids=range(len(MALFORMED)))
def test_malformed_requests_get_a_message(request_, message):
    got = validate_request(request_)
    assert got is not None and message in got


def test_huge_request_rejected_with_configurable_limit():
    huge = req("dumpCell", {"code": "x" * (1 << 20)})
    assert "over the 1048576-byte limit" in validate_request(huge)
    small = req("dumpCell", {"code": "x" * 200})
    assert validate_request(small) is None
    assert "over the 100-byte limit" in validate_request(small, max_bytes=100)


def test_unserialisable_request():
    assert "not JSON-serialisable" in validate_request(req("dumpCell", {"code": {1, 2}}))


def test_response_and_error_response():
    request = {"type": "request", "seq": 19, "command": "dumpCell", "arguments": {"code": ""}}
    assert response(request, {"sourcePath": cell_path(PREFIX, "")}) == {
        "type": "response",
        "request_seq": 19,
        "success": True,
        "command": "dumpCell",
        "body": {"sourcePath": PREFIX + "3990065800.py"},
    }
    assert response({"seq": 0, "command": "attach"})["body"] == {}
    assert error_response({"seq": 34, "command": "source"}, "source unavailable") == {
        "type": "response",
        "request_seq": 34,
        "success": False,
        "command": "source",
        "message": "source unavailable",
        "body": {},
    }
    for junk in (None, [1], "x", {"seq": "1", "command": 3}):
        reply = error_response(junk, validate_request(junk) or "bad")
        assert (reply["request_seq"], reply["command"], reply["success"]) == (0, "", False)
        json.dumps(reply)


# ============================================================================ breakpoints


def test_breakpoint_book_round_trip():
    ids = IdMap()
    book = BreakpointBook(ids)
    body = book.set_breakpoints(F_PATH, [{"line": 4}, {"line": 2, "condition": "i > 1"}])
    assert [(b["verified"], b["line"], b["source"]) for b in body["breakpoints"]] == [
        (True, 4, {"path": F_PATH}),
        (True, 2, {"path": F_PATH}),
    ]
    id4, id2 = (b["id"] for b in body["breakpoints"])
    assert ids.resolve("breakpoint", id4) == (F_PATH, 4)
    assert book.set_breakpoints(F_PATH, [{"line": 4}])["breakpoints"][0]["id"] == id4  # stable
    book.set_breakpoints(F_PATH, [{"line": 4}, {"line": 2, "condition": "i > 1"}])
    book.set_breakpoints(MAIN_PATH, [{"line": 1}])
    assert book.debug_info() == sorted(
        [
            {"source": F_PATH, "breakpoints": [{"line": 2}, {"line": 4}]},
            {"source": MAIN_PATH, "breakpoints": [{"line": 1}]},
        ],
        key=lambda e: e["source"],
    )
    assert book.arguments_for(F_PATH) == {
        "source": {"path": F_PATH},
        "breakpoints": [{"line": 2, "condition": "i > 1"}, {"line": 4}],  # condition replayed
        "sourceModified": False,
    }
    assert [a["source"]["path"] for a in book.replay()] == sorted([F_PATH, MAIN_PATH])
    assert book.remove(id2) == F_PATH
    assert book.debug_info()[0 if F_PATH < MAIN_PATH else 1]["breakpoints"] == [{"line": 4}]
    with pytest.raises(StaleId):
        book.remove(id2)
    book.set_breakpoints(MAIN_PATH, [])  # JupyterLab's "remove all" for a path
    assert [e["source"] for e in book.debug_info()] == [F_PATH]
    assert book.arguments_for(MAIN_PATH)["breakpoints"] == []  # what to send children
    book.set_exception_filters(["raised"])
    assert book.exception_filters == ["raised"]
    book.clear()
    assert (book.debug_info(), book.replay(), book.exception_filters) == ([], [], [])


def test_breakpoint_book_temporary_breakpoints():
    ids = IdMap()
    book = BreakpointBook(ids)
    book.set_breakpoints(F_PATH, [{"line": 4}])
    tmp = book.add(F_PATH, 5, temporary=True)
    assert book.is_temporary(tmp)
    assert book.debug_info() == [{"source": F_PATH, "breakpoints": [{"line": 4}]}]  # hidden
    assert book.arguments_for(F_PATH)["breakpoints"] == [{"line": 4}, {"line": 5}]  # replayed
    book.set_breakpoints(F_PATH, [{"line": 4}, {"line": 6}])  # frontend update keeps it
    assert [b["line"] for b in book.arguments_for(F_PATH)["breakpoints"]] == [4, 5, 6]
    assert book.remove(tmp) == F_PATH and not book.is_temporary(tmp)
    assert [b["line"] for b in book.arguments_for(F_PATH)["breakpoints"]] == [4, 6]
    # a temporary on a line the frontend then claims becomes permanent
    tmp7 = book.add(F_PATH, 7, temporary=True)
    book.set_breakpoints(F_PATH, [{"line": 7}])
    assert not book.is_temporary(tmp7)
    assert book.debug_info() == [{"source": F_PATH, "breakpoints": [{"line": 7}]}]
    assert book.add(F_PATH, 7, temporary=True) == tmp7 and not book.is_temporary(tmp7)


def test_breakpoint_book_child_ids_matched_by_position():
    ids = IdMap()
    book = BreakpointBook(ids)
    (vid,) = (b["id"] for b in book.set_breakpoints(F_PATH, [{"line": 3}])["breakpoints"])
    moved = {"breakpoints": [{"verified": True, "id": 0, "line": 4}]}  # debugpy moved 3 -> 4
    book.record_child_reply("inner#1", book.arguments_for(F_PATH), moved)
    assert book.to_virtual("inner#1", 0) == vid
    assert book.to_virtual("main", 0) is None
    assert book.to_virtual("inner#1", True) is None


# ============================================================================ cells, info


@pytest.mark.parametrize(
    "code, digest",
    [
        ("", 3990065800),
        ("a", 2167009006),
        ("\n\nx=1\n", 7104510),
        (
            "def f(n):\n    total = 0\n    for i in range(n):\n        total += i * 2\n"
            "    return total\n",
            2452315498,
        ),
        ("result = f(3)\nprint('result =', result)\n", 3515424550),
    ],
)
def test_cell_path_reference_vectors(code, digest):
    assert cell_path(PREFIX, code) == f"{PREFIX}{digest}.py"


def test_cell_path_matches_reference_dump_cell_reply():
    code = json.loads(
        '"def f(n):\\n    total = 0\\n    for i in range(n):\\n        total += i * 2\\n'
        '    return total\\n"'
    )
    assert cell_path("/tmp/ipykernel_12345/", code) == F_PATH


def test_cell_path_requires_trailing_separator():
    with pytest.raises(ValueError, match="must end with a path separator"):
        cell_path("/tmp/ipykernel_1", "")


def test_debug_info_body_matches_ipykernel_shape():
    ids = IdMap()
    state, book = StopState(ids), BreakpointBook(ids)
    info = debug_info_body("/tmp/ipykernel_12345/", False, state, book)
    assert info == DEBUG_INFO_REPLY_BODY
    assert type(info["hashSeed"]) is int and json.loads(json.dumps(info)) == info
    book.set_breakpoints(F_PATH, [{"line": 4}])
    translate_child_event("inner#1", STOPPED_BP, state)
    info = debug_info_body(PREFIX, True, state, book)
    assert info["isStarted"] is True and info["tmpFilePrefix"] == PREFIX
    assert info["stoppedThreads"] == [VIRTUAL_THREAD_ID]
    assert info["breakpoints"] == [{"source": F_PATH, "breakpoints": [{"line": 4}]}]


def test_threads_body():
    assert threads_body() == {"threads": [{"id": 1, "name": "MainThread"}]}


def _debugpy_capabilities_source() -> str:
    src = (Path(debugpy.__file__).parent / "adapter" / "clients.py").read_text()
    start = src.index("def initialize_request")
    return src[start : src.index("def _start_message_handler", start)]


def test_initialize_body_is_debugpys_set_with_unroutable_features_off():
    caps = initialize_body()
    debugpy_keys = set(re.findall(r'"(supports\w+)"', _debugpy_capabilities_source()))
    assert debugpy_keys and debugpy_keys <= set(caps)
    for key in (
        "supportsRestartFrame",
        "supportsGotoTargetsRequest",
        "supportsStepInTargetsRequest",
        "supportsSetExpression",
        "supportsDelayedStackTraceLoading",
    ):
        assert caps[key] is False, key
    assert caps["supportsModulesRequest"] is True
    assert caps["supportsConfigurationDoneRequest"] is True
    assert caps["supportsExceptionInfoRequest"] is True
    assert [(f["filter"], f["default"]) for f in caps["exceptionBreakpointFilters"]] == [
        ("raised", False),
        ("uncaught", True),
        ("userUnhandled", False),
    ]
    for filt in caps["exceptionBreakpointFilters"]:
        assert f'"{filt["label"]}"' in _debugpy_capabilities_source()
    # every request we advertise is one validate_request accepts
    for key, value in caps.items():
        match = re.fullmatch(r"supports(\w+)Request", key)
        if value is True and match:
            command = match[1][0].lower() + match[1][1:]
            assert command in KNOWN_COMMANDS, key
    assert caps is not initialize_body()  # callers may mutate their copy


def test_module_has_no_io_imports():
    source = Path(dapcore.__file__).read_text()
    for name in ("asyncio", "socket", "zmq", "threading", "subprocess"):
        assert not re.search(rf"^\s*(import|from) {name}\b", source, re.M), name
    assert os.path.basename(dapcore.__file__) == "dapcore.py"


def test_frames_of_a_kernel_on_another_host_name_the_host():
    lv = levels()
    lv[0] = Level("inner#1", "inner", "remote_b", 71, inner_frames(), stopped=True, host="B")
    names = [f["name"] for f in merge_stack(lv, IdMap())]
    assert names[0] == "inner  [remote_b pid 71 on B]"
    assert all(" on " not in n for n in names[1:])  # the meta-kernel's host is not named
