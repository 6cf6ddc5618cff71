"""Values and exceptions cross kernels unchanged, as if the functions ran in one process.

The codec is tested as pure data (with Hypothesis); everything else with real kernels.
"""

from __future__ import annotations

import io
import math
from collections.abc import Iterator
from typing import Any

import pytest
from conftest import MetaKernelHandle, errors_of, result_text
from hypothesis import given, settings
from hypothesis import strategies as st

from metakernel_dbg import Session
from metakernel_dbg.callplane import values
from metakernel_dbg.errors import CallArgumentError, RemoteError


# -- the codec (pure) -------------------------------------------------------------------------
def same(a: Any, b: Any) -> bool:
    """Equal and of the same types all the way down (NaN equals NaN)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, float):
        return (math.isnan(a) and math.isnan(b)) or a == b
    if isinstance(a, list | tuple):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict):
        return len(a) == len(b) and all(
            any(same(k, k2) and same(v, b[k2]) for k2 in b) for k, v in a.items()
        )
    return a == b


keys = st.one_of(
    st.text(max_size=5),
    st.integers(),
    st.floats(allow_nan=False),
    st.booleans(),
    st.none(),
    st.tuples(st.integers(), st.text(max_size=3)),
)
scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=10))
travelling = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.lists(inner, max_size=4).map(tuple),
        st.dictionaries(keys, inner, max_size=4),
    ),
    max_leaves=20,
)


@settings(max_examples=300, deadline=None)
@given(travelling)
def test_every_travelling_value_comes_back_equal_and_of_the_same_type(value: Any) -> None:
    payload = values.encode_value(value, "result")
    assert same(values.decode(payload), value)
    args, kwargs = values.decode(values.encode_call((value, 1), {"k": value}, "call('f')"))
    assert same(args[0], value) and same(kwargs["k"], value) and args[1] == 1


@pytest.mark.parametrize(
    ("value", "where"),
    [
        ({"a": [0, {1, 2}]}, "args[0]['a'][1]: set"),
        ([b"x"], "args[0][0]: bytes"),
        ((1, object()), "args[0][1]: object"),
        ({frozenset(): 1}, "args[0]: key frozenset() : frozenset"),
    ],
)
def test_what_cannot_travel_is_named_by_its_path(value: Any, where: str) -> None:
    with pytest.raises(CallArgumentError) as caught:
        values.encode_call((value,), {}, "call('f')")
    assert str(caught.value).startswith(f"call('f'): {where}".replace(" : ", ": "))


def test_the_wire_stays_plain_json_with_documented_tags() -> None:
    payload = values.encode_value({1: (2.0, float("inf")), "$x": None}, "result")
    assert payload == (b'{"$dict":[[1,{"$tuple":[2.0,{"$float":"inf"}]}],["$x",null]]}')


# -- with real kernels --------------------------------------------------------------------------
FUNCTIONS = {
    "echo": "def echo(x):\n    return x\n",
    "boom": "def boom(k):\n    return {}[k]\n",
    "relay": 'def relay(k):\n    return call("boom", k)\n',  # two hops down to the raise
    "mine": "class MyError(ValueError):\n    pass\n\ndef mine(x):\n    raise MyError('bad', x)\n",
    "wrap": (
        "def wrap():\n    try:\n        call('boom', 'z')\n    except KeyError as exc:\n"
        "        raise ValueError('wrapped') from exc\n"
    ),
    "implicit": (
        "def implicit():\n    try:\n        call('boom', 'z')\n    except KeyError:\n"
        "        return 1 / 0\n"
    ),
    "nofile": "def nofile():\n    open('/nonexistent/x')\n",
    "bad_result": "def bad_result():\n    return {'a': {1, 2}}\n",
    "probe": '''def probe(name, *args):
    """Call `name`; describe what the caller sees: type, module, args, message, chain."""
    from metakernel_dbg.errors import RemoteError
    try:
        call(name, *args)
    except BaseException as e:
        def chain(x):
            return None if x is None else [type(x).__name__, list(x.args)]
        return {
            "type": type(e).__name__, "module": type(e).__module__, "args": list(e.args),
            "str": str(e), "remote": isinstance(e, RemoteError),
            "key": isinstance(e, KeyError), "value": isinstance(e, ValueError),
            "os": isinstance(e, OSError) and [e.errno, e.strerror],
            "cause": chain(e.__cause__), "context": chain(e.__context__),
            "suppress": e.__suppress_context__,
            "frames": bool(isinstance(e, RemoteError) and e.frames),
            "span": getattr(e, "span_id", ""),
        }
''',
}


@pytest.fixture(scope="module")
def session() -> Iterator[Session]:
    with Session(stdout=io.StringIO(), stderr=io.StringIO(), pool_size=0) as s:
        for name, source in FUNCTIONS.items():
            s.define(name, source)
        yield s


@pytest.mark.parametrize(
    "value",
    [
        (1, 2),
        {1: "a", 2.5: None, False: [1], None: (3,)},
        {(1, "x"): {"$tuple": "escaped"}},
        [(), [()], {"n": float("nan"), "i": -float("inf")}],
        "é€😀",
    ],
)
def test_values_arrive_unchanged_both_ways(session: Session, value: Any) -> None:
    assert same(session.call("echo", value), value)
    assert same(session.call("echo", x=value), value)


def test_a_value_that_cannot_travel_fails_the_call_naming_its_path(session: Session) -> None:
    with pytest.raises(CallArgumentError, match=r"args\[0\]\['a'\]\[1\]: set"):
        session.call("echo", {"a": [0, {1, 2}]})
    caught = session.call("probe", "bad_result")
    assert caught["type"] == "CallArgumentError"
    assert "result['a']: set" in caught["str"]


def test_a_caller_catches_a_callee_error_by_its_type_two_hops_down(session: Session) -> None:
    caught = session.call("probe", "relay", "k")
    assert caught["type"] == "KeyError" and caught["module"] == "builtins"
    assert caught["key"] and caught["remote"], "KeyError and RemoteError, one object"
    assert caught["args"] == ["k"] and caught["str"] == "'k'"
    assert caught["frames"] and caught["span"], "RemoteError's frames and span stay"


def test_a_callee_s_own_class_arrives_as_a_class_of_its_name_and_module(session: Session) -> None:
    caught = session.call("probe", "mine", 3)
    assert (caught["type"], caught["module"]) == ("MyError", "__main__")
    assert caught["value"], "derived from the callee class's importable base"
    assert caught["args"] == ["bad", 3]


def test_explicit_and_implicit_chaining_keep_their_types(session: Session) -> None:
    wrapped = session.call("probe", "wrap")
    assert wrapped["type"] == "ValueError" and wrapped["args"] == ["wrapped"]
    assert wrapped["cause"] == ["KeyError", ["z"]] and wrapped["suppress"] is True
    implicit = session.call("probe", "implicit")
    assert implicit["type"] == "ZeroDivisionError"
    assert implicit["context"] == ["KeyError", ["z"]] and implicit["cause"] is None


def test_os_errors_keep_errno(session: Session) -> None:
    caught = session.call("probe", "nofile")
    assert caught["type"] == "FileNotFoundError"
    assert caught["os"] == [2, "No such file or directory"]


def test_a_session_s_render_error_carries_the_typed_cause(session: Session) -> None:
    from metakernel_dbg import RenderError

    with pytest.raises(RenderError) as caught:
        session.call("relay", "q")
    assert isinstance(caught.value.cause, KeyError) and caught.value.cause.args == ("q",)
    assert isinstance(caught.value.cause, RemoteError)


def test_a_notebook_cell_catches_by_type_and_shows_the_callee_type(
    meta_kernel: MetaKernelHandle,
) -> None:
    for name in ("boom", "relay"):
        reply, _ = meta_kernel.run(f"%%function {name}\n{FUNCTIONS[name]}")
        assert reply["status"] == "ok"
    reply, msgs = meta_kernel.run(
        'try:\n    call("relay", "k")\nexcept KeyError as e:\n    r = repr(e)\nr'
    )
    assert reply["status"] == "ok" and result_text(msgs) == "\"KeyError('k')\""
    reply, msgs = meta_kernel.run('call("relay", "k")')
    assert (reply["ename"], reply["evalue"]) == ("KeyError", "'k'")
    assert [e["content"]["ename"] for e in errors_of(msgs)] == ["KeyError"]
