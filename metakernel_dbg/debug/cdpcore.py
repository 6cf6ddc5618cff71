"""Sans-IO core of the CDP backend: DAP for a JavaScript child, in terms of V8's inspector
(Chrome DevTools Protocol). Plain data in, plain data out (h11 style): what a CDP pause
means (a stop to show, a pause of the runtime's hooks to answer, a waiting caller held
for inspection), how DAP steps map to CDP ones, and how frames, scopes and values look in
DAP. `cdp_backend.py` does the I/O.

The runtime's hooks (runtimes/js/lib/debug.cjs) pause in a script of their own,
`HOOKS_URL`; the rules for them:

- `probe`: the runtime asks which step was running; answered with the step (`"into"` when
  the backend ran none: V8 only stops there while stepping in) and resumed, never shown;
- `stepIn`: the backend steps into what runs next (the served function, or the caller's
  code after a callee's step became "into" here);
- `stop`: shown as a stop (reason "step") at the top user frame: the caller's call line;
- `clear`: resumed at once (the pause itself dropped V8's pending step).

Frames of the runtime, Node, tslab and the hooks never show. V8 stops in Node-internal
functions called implicitly (getters, the prepareStackTrace callback) even when they are
blackboxed: a step landing there steps out again. An exception paused in such frames is
a remote error re-raised at a call site (or the runtime's own): not the user's, resumed.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import quote as url_quote
from urllib.parse import unquote

Json = dict[str, Any]
HOOKS_URL = "mkdbg://hooks.js"
THREAD_ID = 1  # a JS kernel runs user code on one thread
#: DAP step command -> the step kind the runtime's probe is told
STEP_KINDS = {"next": "over", "stepIn": "into", "stepOut": "out"}
_CDP_STEPS = {"next": "Debugger.stepOver", "stepIn": "Debugger.stepInto"}
#: scopes whose variables are the frame's own (DAP "Locals"), innermost first in CDP
LOCAL_SCOPES = ("block", "catch", "local")
_SCOPE_NAMES = {"closure": "Closure", "script": "Script", "module": "Module", "global": "Globals"}
_MAX_PREVIEW = 100


# --------------------------------------------------------------------------- paths


def breakpoint_url(path: str) -> str:
    """The URL V8 gives a script compiled with `filename=path` (vm.runInThisContext)."""
    return "file://" + url_quote(path)


def url_path(url: str) -> str:
    return unquote(url[len("file://") :]) if url.startswith("file://") else url


# --------------------------------------------------------------------------- pauses


@dataclass(frozen=True)
class Action:
    """What to do about one CDP pause.

    `kind`: "show" (a stop: emit DAP `stopped` with `body`), "hold" (a waiting caller,
    paused for inspection: keep it, say nothing), "probe" (evaluate `expression` on the top
    frame, then resume), or a plain CDP command to send: "Debugger.resume",
    "Debugger.stepInto", "Debugger.stepOut". `pause_again`: a hook paused before the
    session's own `Debugger.pause` did (V8 ignores a pause asked while paused), so once the
    hook is answered the backend asks again.
    """

    kind: str
    body: Json = field(default_factory=dict)
    expression: str = ""
    pause_again: bool = False


@dataclass
class PauseRules:
    """The backend's state between pauses, and the rules that decide each one."""

    blackbox: list[str]
    #: scriptId -> url (Node 20 leaves callFrame.url empty for vm scripts)
    scripts: dict[str, str] = field(default_factory=dict)
    #: the DAP step the user ran ("over", "into", "out") until the pause that ends it
    step: str | None = None
    #: a DAP stepOut started below the user's frame: step out once more from there
    out_again: bool = False
    #: the user pressed pause (DAP `pause`)
    pausing: bool = False
    #: the session wants this waiting caller's frames (`caller_level`)
    holding: bool = False
    #: CDP breakpoint id -> the DAP id handed out for it
    breakpoint_ids: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._patterns = [re.compile(p) for p in self.blackbox]

    def url(self, frame: Json) -> str:
        return frame.get("url") or self.scripts.get(frame["location"]["scriptId"], "")

    def is_user(self, frame: Json) -> bool:
        url = self.url(frame)
        return bool(url) and url != HOOKS_URL and not any(p.search(url) for p in self._patterns)

    def user_frames(self, pause: Json) -> list[tuple[int, Json]]:
        """(index in callFrames, frame) of the user's frames, innermost first."""
        return [(i, f) for i, f in enumerate(pause["callFrames"]) if self.is_user(f)]

    def decide(self, pause: Json) -> Action:
        """The action for a `Debugger.paused` event's params (see the module docstring)."""
        top = pause["callFrames"][0]
        url = self.url(top)
        if url == HOOKS_URL:
            action = self._hook(top["functionName"])
            if (self.holding or self.pausing) and action.kind in ("probe", "Debugger.resume"):
                return replace(action, pause_again=True)
            return action
        if self.holding:
            self.holding = False
            return Action("hold")
        if self.pausing:
            self.pausing = False
            self.step = None
            return Action("show", self._stopped("pause"))
        if not self.is_user(top):
            if pause["reason"] in ("exception", "promiseRejection"):
                return Action("Debugger.resume")
            if self.step is not None:
                return Action("Debugger.stepOut")  # an implicit call V8 stepped into
            return Action("Debugger.resume")
        if self.out_again:
            self.out_again = False
            return Action("Debugger.stepOut")
        return Action("show", self._stopped(self._reason(pause), pause))

    def _hook(self, name: str) -> Action:
        if name == "probe":
            stepped, self.step = self.step or "into", None
            expression = f"globalThis.__mkdbg.debug.state.stepped = {json.dumps(stepped)}"
            return Action("probe", expression=expression)
        if name == "stepIn":
            self.step = "into"  # where it lands is a step's stop
            return Action("Debugger.stepInto")
        if name == "stop":
            self.out_again = False
            return Action("show", self._stopped("step"))
        return Action("Debugger.resume")  # clear

    def _reason(self, pause: Json) -> str:
        if pause["reason"] in ("exception", "promiseRejection"):
            return "exception"
        if pause.get("hitBreakpoints"):
            return "breakpoint"
        return "step" if self.step is not None else "breakpoint"

    def _stopped(self, reason: str, pause: Json | None = None) -> Json:
        self.step = None
        body: Json = {"reason": reason, "threadId": THREAD_ID, "allThreadsStopped": True}
        if pause is not None and reason == "breakpoint":
            hits = [self.breakpoint_ids.get(b) for b in pause.get("hitBreakpoints", ())]
            body["hitBreakpointIds"] = [h for h in hits if h is not None]
        if pause is not None and reason == "exception":
            body["text"] = describe(pause.get("data") or {}).split("\n", 1)[0]
        return body

    def step_command(self, command: str, pause: Json) -> str:
        """The CDP command for a DAP step from `pause`; remembers the step for the probe.

        Stopped below the user's frame (the caller's call line: a `stop` hook or a pause
        while blocked in call()), `next` leaves the runtime with a step out, and `stepOut`
        needs a second one from the user's frame.
        """
        self.step = STEP_KINDS[command]
        at_user = self.is_user(pause["callFrames"][0])
        if command == "stepIn" or (at_user and command == "next"):
            return _CDP_STEPS[command]
        self.out_again = command == "stepOut" and not at_user
        return "Debugger.stepOut"


def exception_settings(filters: list[str]) -> tuple[str, bool]:
    """DAP exception filters -> (CDP pause-on-exceptions state, runtime's `uncaught` flag).

    "raised" stops at every throw; "uncaught" and "userUnhandled" at a throw that escapes
    the served function (the runtime then calls it so that V8 sees it as uncaught).
    """
    escaping = bool({"uncaught", "userUnhandled"} & set(filters))
    if "raised" in filters:
        return "all", escaping
    return ("uncaught" if escaping else "none"), escaping


# --------------------------------------------------------------------------- frames


def stack_frames(rules: PauseRules, pause: Json) -> list[Json]:
    """DAP stackFrames of a pause: the user's frames, their id their index in callFrames."""
    frames = []
    for index, frame in rules.user_frames(pause):
        location = frame["location"]
        frames.append(
            {
                "id": index,
                "name": frame["functionName"] or "(anonymous)",
                "line": location["lineNumber"] + 1,
                "column": location.get("columnNumber", 0) + 1,
                "source": {"path": url_path(rules.url(frame))},
            }
        )
    return frames


def scopes(frame: Json, new_ref: Any) -> list[Json]:
    """DAP scopes of a CDP call frame; `new_ref(object_ids)` hands out variablesReferences
    (the frame's block, catch and local scopes are one "Locals" scope)."""
    chain = frame["scopeChain"]
    own = [s["object"]["objectId"] for s in chain if s["type"] in LOCAL_SCOPES]
    out = [
        {
            "name": "Locals",
            "variablesReference": new_ref(own),
            "expensive": False,
            "presentationHint": "locals",
        }
    ]
    for scope in chain:
        name = _SCOPE_NAMES.get(scope["type"])
        if name is None:
            continue
        if scope["type"] == "closure" and scope.get("name"):
            name = f"Closure ({scope['name']})"
        out.append(
            {
                "name": name,
                "variablesReference": new_ref([scope["object"]["objectId"]]),
                "expensive": scope["type"] == "global",
            }
        )
    return out


def variables(properties: list[list[Json]], new_ref: Any) -> list[Json]:
    """DAP variables from `Runtime.getProperties` results (one list per object; a name seen
    in an earlier object, an inner scope, wins). Objects get a variablesReference."""
    out: list[Json] = []
    seen: set[str] = set()
    for props in properties:
        for prop in props:
            name = prop["name"]
            value = prop.get("value")
            if value is None or name == "__proto__" or name in seen:
                continue
            seen.add(name)
            out.append(variable(name, value, new_ref))
    return out


def variable(name: str, value: Json, new_ref: Any) -> Json:
    """A DAP Variable. Only objects carry a `type` (their class): JupyterLab's variables
    tree shows a value only when the type is one of Python's scalars, the type otherwise."""
    out = {"name": name, "value": describe(value), "evaluateName": name, "variablesReference": 0}
    object_id = value.get("objectId") if value.get("type") in ("object", "function") else None
    if object_id:
        out.update(type=type_name(value), variablesReference=new_ref([object_id]))
    return out


# --------------------------------------------------------------------------- values


def js_string(text: str) -> str:
    """A JS string as util.inspect shows it: 'single quotes' unless that needs escapes."""
    body = text.replace("\\", "\\\\").replace("\n", "\\n")
    if "'" not in body:
        return f"'{body}'"
    if '"' not in body:
        return f'"{body}"'
    return "'" + body.replace("'", "\\'") + "'"


def type_name(obj: Json) -> str:
    if obj.get("type") == "object":
        return "null" if obj.get("subtype") == "null" else obj.get("className", "Object")
    return str(obj.get("type", ""))


def describe(obj: Json) -> str:
    """A CDP RemoteObject as text: primitives as JS writes them, objects from their
    preview (`{type: 'time', precision: 11}`, `[1, 2, 3]`), else their description."""
    kind = obj.get("type")
    if "unserializableValue" in obj:  # NaN, Infinity, -0, 12n
        return str(obj["unserializableValue"])
    if kind == "undefined":
        return "undefined"
    if kind == "string":
        return js_string(obj.get("value", ""))
    if kind == "boolean":
        return "true" if obj.get("value") else "false"
    if kind == "number":
        return _number(obj.get("value"))
    if kind == "function":
        return "ƒ " + str(obj.get("description", "")).split("{", 1)[0].strip()
    if kind == "object" and obj.get("subtype") == "null":
        return "null"
    if kind == "object" and obj.get("preview"):
        return _preview(obj["preview"])
    return str(obj.get("description") or obj.get("className") or obj.get("value", ""))


def _number(value: Any) -> str:
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e21:
        return str(int(value))
    return str(value)


def _preview(preview: Json) -> str:
    props = preview.get("properties", [])
    more = ", …" if preview.get("overflow") else ""
    subtype = preview.get("subtype")
    if subtype == "array":
        return "[" + ", ".join(_preview_value(p) for p in props) + more + "]"
    if subtype in ("map", "set") and "entries" in preview:
        entries = []
        for entry in preview["entries"]:
            value = _preview(entry["value"])
            entries.append(f"{_preview(entry['key'])} => {value}" if "key" in entry else value)
        return f"{preview.get('description', subtype)} {{{', '.join(entries)}{more}}}"
    if preview.get("type") == "string":
        return js_string(preview.get("description", ""))
    if preview.get("type") != "object":
        return str(preview.get("description", ""))
    body = "{" + ", ".join(f"{p['name']}: {_preview_value(p)}" for p in props) + more + "}"
    name = preview.get("description", "Object")
    text = body if name == "Object" else f"{name} {body}"
    return text if len(text) <= _MAX_PREVIEW else text[: _MAX_PREVIEW - 1] + "…"


def _preview_value(prop: Json) -> str:
    """A property inside a preview: nested objects are only named (`{…}`, `Array(3)`)."""
    if prop.get("type") == "string":
        return js_string(prop.get("value", ""))
    if prop.get("type") == "object":
        subtype = prop.get("subtype")
        if subtype == "null":
            return "null"
        return prop.get("value", "") if subtype in ("array", "map", "set", "date") else "{…}"
    if prop.get("type") == "function":
        return "ƒ"
    return str(prop.get("value", ""))
