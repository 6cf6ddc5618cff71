"""Programs generated with Hypothesis: random call graphs (loops, recursion, several calls
on a line, keyword arguments, exceptions raised and caught at random levels), with random
breakpoints, exception filters and step scripts."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from hypothesis import strategies as st

from .program import FILTERS, STEPS, Function, Program

_MAX_FUNCTIONS = 4


@st.composite
def _statement(draw: st.DrawFn, index: int, count: int) -> list[str]:
    """One statement of function f{index} (lines without the body's indentation); it may
    call the functions after it (f{index+1}...) and itself with a smaller argument."""
    callees = [f"f{j}" for j in range(index + 1, count)]
    kinds = ["assign", "print"]
    if callees:
        kinds += ["call", "keyword", "two", "loop", "try"]
    kinds += ["raise", "recurse"]
    kind = draw(st.sampled_from(kinds))
    c = draw(st.integers(0, 3))
    if kind == "assign":
        return [f"a = a * 2 + x + {c}"]
    if kind == "print":
        return [f"print('f{index}', a)"]
    if kind == "raise":
        return [f"if x == {c}:", f"    raise ValueError('f{index}', x)"]
    if kind == "recurse":
        return [f"if 0 < x < {c + 2}:", f"    a += CALL(f{index}, x - 1)"]
    one = draw(st.sampled_from(callees))
    if kind == "call":
        return [f"a += CALL({one}, x)"]
    if kind == "keyword":
        return [f"a += CALL({one}, x, k={c})"]
    if kind == "two":
        other = draw(st.sampled_from(callees))
        return [f"a = CALL({one}, x - 1) + CALL({other}, a, k=2)"]
    if kind == "loop":
        return [f"for i in range({c % 3 + 1}):", f"    a += CALL({one}, i)"]
    return ["try:", f"    a += CALL({one}, x)", "except ValueError:", "    a -= 1"]


@st.composite
def _function(draw: st.DrawFn, index: int, count: int) -> Function:
    body = ["a = k"]
    for _ in range(draw(st.integers(1, 4))):
        body += draw(_statement(index, count))
    body.append("return a")
    source = f"def f{index}(x, k=1):\n" + "".join(f"    {line}\n" for line in body)
    return Function(f"f{index}", source)


@st.composite
def program_strategy(draw: st.DrawFn) -> Program:
    count = draw(st.integers(1, _MAX_FUNCTIONS))
    functions = tuple(draw(_function(i, count)) for i in range(count))
    arg = draw(st.integers(0, 3))
    render = draw(
        st.sampled_from(
            [
                f"print(CALL(f0, {arg}))\n",
                f"r = CALL(f0, {arg})\nprint(r)\n",
                f"try:\n    r = CALL(f0, {arg})\nexcept ValueError as e:\n"
                "    r = e.args\nprint(r)\n",
            ]
        )
    )
    lines = [(f.name, offset) for f in functions for offset in range(1, len(f.source.splitlines()))]
    breakpoints = tuple(draw(st.lists(st.sampled_from(lines), max_size=3, unique=True)))
    filters = tuple(draw(st.one_of(st.just([]), st.lists(st.sampled_from(FILTERS), unique=True))))
    steps = tuple(draw(st.lists(st.sampled_from(STEPS), max_size=8)))
    return Program("generated", functions, render, breakpoints, filters, steps)


def each_program(count: int, seed: int, check: Callable[[Program], Any]) -> None:
    """Draw `count` programs (reproducibly, from `seed`) and hand each to `check`."""
    from hypothesis import Phase, given, settings
    from hypothesis import seed as with_seed

    @with_seed(seed)
    @settings(
        max_examples=count,
        database=None,
        deadline=None,
        phases=[Phase.generate],
        suppress_health_check=list(__import__("hypothesis").HealthCheck),
    )
    @given(program_strategy())
    def draw_all(program: Program) -> None:
        check(program)

    draw_all()
