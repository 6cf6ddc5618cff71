"""The CDP backend's sans-IO core with plain data (CDP events as V8 sends them in tslab)."""

from __future__ import annotations

import pytest

from metakernel_dbg.debug import cdpcore
from metakernel_dbg.debug.cdpcore import HOOKS_URL, Action, PauseRules

RUNTIME = "/site/metakernel_dbg/runtimes/js"
BLACKBOX = [f"^(file://)?{RUNTIME}/", "^node:", "/node_modules/", r"^evalmachine\."]
CELL = "/tmp/ipykernel_mkdbg_1/42.py"


def frame(name: str, script: str, line: int, scopes: list | None = None) -> dict:
    return {
        "callFrameId": f"cf-{name}-{line}",
        "functionName": name,
        "location": {"scriptId": script, "lineNumber": line - 1, "columnNumber": 2},
        "url": "",  # Node 20 leaves it empty for vm scripts
        "scopeChain": scopes or [],
    }


def rules(**state) -> PauseRules:
    r = PauseRules(BLACKBOX)
    r.scripts.update(
        {
            "1": f"file://{CELL}",
            "2": f"file://{RUNTIME}/lib/transport.cjs",
            "3": HOOKS_URL,
            "4": "node:internal/errors",
            "5": "file:///data/my%20functions/jfile.js",
            "6": "evalmachine.<anonymous>",
        }
    )
    for key, value in state.items():
        setattr(r, key, value)
    return r


def paused(*frames: dict, reason: str = "other", **extra) -> dict:
    return {"callFrames": list(frames), "reason": reason, **extra}


BLOCKED = paused(
    frame("next", "2", 70),
    frame("call", "2", 200),
    frame("jouter", "1", 6),
    frame("", "6", 3),
)


def test_probe_pauses_are_answered_with_the_running_step() -> None:
    r = rules(step="over")
    action = r.decide(paused(frame("probe", "3", 3)))
    assert action == Action("probe", expression='globalThis.__mkdbg.debug.state.stepped = "over"')
    assert r.step is None, "the step is the runtime's now"
    action = r.decide(paused(frame("probe", "3", 3)))
    assert action.expression.endswith('= "into"'), "only a stepIn stops there unasked"


def test_hooks_step_in_stop_and_clear() -> None:
    r = rules()
    assert r.decide(paused(frame("stepIn", "3", 6))) == Action("Debugger.stepInto")
    assert r.step == "into"
    shown = r.decide(paused(frame("jleaf", "1", 2)))
    assert shown.kind == "show" and shown.body["reason"] == "step"
    stop = r.decide(paused(frame("stop", "3", 9), *BLOCKED["callFrames"][1:]))
    assert stop == Action("show", {"reason": "step", "threadId": 1, "allThreadsStopped": True})
    assert r.decide(paused(frame("clear", "3", 12))) == Action("Debugger.resume")


def test_user_frames_only_in_stack_frames() -> None:
    r = rules()
    frames = cdpcore.stack_frames(r, BLOCKED)
    assert frames == [
        {"id": 2, "name": "jouter", "line": 6, "column": 3, "source": {"path": CELL}},
    ]
    file_frame = cdpcore.stack_frames(r, paused(frame("jfile", "5", 2)))
    assert file_frame[0]["source"]["path"] == "/data/my functions/jfile.js"
    assert cdpcore.url_path(cdpcore.breakpoint_url("/data/my functions/jfile.js")) == (
        "/data/my functions/jfile.js"
    )


def test_pauses_of_the_user_and_of_the_session() -> None:
    r = rules(holding=True)
    assert r.decide(BLOCKED) == Action("hold")
    assert not r.holding
    r.pausing = True
    shown = r.decide(BLOCKED)
    assert shown.kind == "show" and shown.body["reason"] == "pause"
    r.breakpoint_ids = {"bp-A": 7}
    hit = r.decide(paused(frame("jouter", "1", 6), hitBreakpoints=["bp-A", "bp-gone"]))
    assert hit.body["reason"] == "breakpoint" and hit.body["hitBreakpointIds"] == [7]


def test_a_hook_paused_before_a_hold_or_a_pause_asks_again() -> None:
    """The session's `clear` reaches a waiting caller while the stack is merged: V8 pauses in
    the hook and ignores the hold's Debugger.pause, so the hold is asked for again."""
    for state in ("holding", "pausing"):
        r = rules(**{state: True})
        clear = r.decide(paused(frame("clear", "3", 12), *BLOCKED["callFrames"]))
        assert clear == Action("Debugger.resume", pause_again=True)
        probe = r.decide(paused(frame("probe", "3", 3)))
        assert probe.kind == "probe" and probe.pause_again
        assert getattr(r, state), "still to come: the pause itself"
        assert r.decide(BLOCKED).kind in ("hold", "show")
        assert not r.decide(paused(frame("clear", "3", 12))).pause_again


def test_exceptions_in_plumbing_are_not_the_users() -> None:
    r = rules()
    rethrow = paused(*BLOCKED["callFrames"], reason="exception", data={"type": "object"})
    assert r.decide(rethrow) == Action("Debugger.resume")
    data = {"type": "object", "className": "TypeError", "description": "TypeError: bad 2\n  at"}
    own = r.decide(paused(frame("jthrow", "1", 7), reason="promiseRejection", data=data))
    assert own.body["reason"] == "exception" and own.body["text"] == "TypeError: bad 2"


def test_a_step_into_a_blackboxed_implicit_call_steps_out_again() -> None:
    r = rules(step="into")
    assert r.decide(paused(frame("prepareStackTrace", "4", 80))) == Action("Debugger.stepOut")
    assert r.step == "into"
    assert r.decide(paused(frame("jouter", "1", 7))).body["reason"] == "step"


@pytest.mark.parametrize(
    ("command", "top", "cdp", "again"),
    [
        ("next", "user", "Debugger.stepOver", False),
        ("stepIn", "user", "Debugger.stepInto", False),
        ("stepOut", "user", "Debugger.stepOut", False),
        ("next", "call line", "Debugger.stepOut", False),
        ("stepIn", "call line", "Debugger.stepInto", False),
        ("stepOut", "call line", "Debugger.stepOut", True),
    ],
)
def test_dap_steps_to_cdp(command: str, top: str, cdp: str, again: bool) -> None:
    r = rules()
    pause = paused(frame("jouter", "1", 6)) if top == "user" else BLOCKED
    assert r.step_command(command, pause) == cdp
    assert r.out_again is again
    assert r.step == cdpcore.STEP_KINDS[command]
    if again:  # the first stepOut lands in the user's frame: out once more
        assert r.decide(paused(frame("jouter", "1", 7))) == Action("Debugger.stepOut")
        assert r.decide(paused(frame("main", "1", 2))).body["reason"] == "step"


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        ([], ("none", False)),
        (["raised"], ("all", False)),
        (["uncaught"], ("uncaught", True)),
        (["userUnhandled"], ("uncaught", True)),
        (["raised", "uncaught"], ("all", True)),
    ],
)
def test_exception_filters(filters: list[str], expected: tuple[str, bool]) -> None:
    assert cdpcore.exception_settings(filters) == expected


def test_scopes_merge_the_frames_own_variables() -> None:
    chain = [
        {"type": "block", "object": {"objectId": "blk"}},
        {"type": "local", "object": {"objectId": "loc"}},
        {"type": "closure", "name": "outer", "object": {"objectId": "clo"}},
        {"type": "script", "object": {"objectId": "scr"}},
        {"type": "global", "object": {"objectId": "glo"}},
    ]
    refs: dict[int, list[str]] = {}

    def new_ref(ids: list[str]) -> int:
        refs[len(refs) + 1] = ids
        return len(refs)

    scopes = cdpcore.scopes(frame("f", "1", 1, chain), new_ref)
    assert [(s["name"], refs[s["variablesReference"]], s["expensive"]) for s in scopes] == [
        ("Locals", ["blk", "loc"], False),
        ("Closure (outer)", ["clo"], False),
        ("Script", ["scr"], False),
        ("Globals", ["glo"], True),
    ]


def test_variables_inner_scope_wins_and_objects_get_references() -> None:
    block = [{"name": "i", "value": {"type": "number", "value": 1}}]
    local = [
        {"name": "i", "value": {"type": "number", "value": 0}},
        {"name": "obj", "value": {"type": "object", "className": "Object", "objectId": "o1"}},
        {"name": "__proto__", "value": {"type": "object", "objectId": "p"}},
        {"name": "getter", "get": {"type": "function"}},
    ]
    variables = cdpcore.variables([block, local], lambda ids: 9 if ids == ["o1"] else 0)
    assert [(v["name"], v["value"], v.get("type"), v["variablesReference"]) for v in variables] == [
        ("i", "1", None, 0),  # JupyterLab's tree shows the value of a variable without a type
        ("obj", "Object", "Object", 9),
    ]


def _obj(preview: dict, **extra) -> dict:
    return {"type": "object", "objectId": "x", "preview": preview, **extra}


@pytest.mark.parametrize(
    ("remote", "text"),
    [
        ({"type": "undefined"}, "undefined"),
        ({"type": "object", "subtype": "null", "value": None}, "null"),
        ({"type": "number", "value": 3}, "3"),
        ({"type": "number", "value": 2.5}, "2.5"),
        ({"type": "number", "unserializableValue": "NaN"}, "NaN"),
        ({"type": "bigint", "unserializableValue": "12n"}, "12n"),
        ({"type": "boolean", "value": False}, "false"),
        ({"type": "string", "value": "it's"}, '"it\'s"'),
        ({"type": "string", "value": "a\nb"}, "'a\\nb'"),
        ({"type": "function", "description": "function f(x) { return x }"}, "ƒ function f(x)"),
        (
            _obj(
                {
                    "type": "object",
                    "description": "Object",
                    "overflow": False,
                    "properties": [
                        {"name": "a", "type": "number", "value": "1"},
                        {"name": "s", "type": "string", "value": "x"},
                        {"name": "o", "type": "object", "value": "Object"},
                        {"name": "l", "type": "object", "subtype": "array", "value": "Array(3)"},
                        {"name": "n", "type": "object", "subtype": "null", "value": "null"},
                    ],
                }
            ),
            "{a: 1, s: 'x', o: {…}, l: Array(3), n: null}",
        ),
        (
            _obj(
                {
                    "type": "object",
                    "subtype": "array",
                    "description": "Array(30)",
                    "overflow": True,
                    "properties": [{"name": "0", "type": "number", "value": "1"}],
                }
            ),
            "[1, …]",
        ),
        (
            _obj(
                {
                    "type": "object",
                    "subtype": "map",
                    "description": "Map(1)",
                    "overflow": False,
                    "properties": [],
                    "entries": [
                        {
                            "key": {"type": "number", "description": "1", "overflow": False},
                            "value": {"type": "string", "description": "x", "overflow": False},
                        }
                    ],
                }
            ),
            "Map(1) {1 => 'x'}",
        ),
        ({"type": "object", "className": "Foo", "description": "Foo"}, "Foo"),
    ],
)
def test_describe(remote: dict, text: str) -> None:
    assert cdpcore.describe(remote) == text
