"""The fixed corpus: one program per behaviour the debugger must get exactly right across
kernels (issue 11's cases), besides the generated ones (generate.py)."""

from __future__ import annotations

from .program import Function, Program

INNER = Function("inner", "def inner(x):\n    y = x * 2\n    return y + 1\n")
OUTER = Function(
    "outer",
    "def outer(n):\n    total = 0\n    for i in range(n):\n"
    "        total += CALL(inner, i)\n    return total\n",
)
RENDER = "result = CALL(outer, 3)\nprint(result)\n"
F = Function("f", "def f(x, scale=1):\n    y = x * scale\n    return y\n")
G = Function("g", "def g(x):\n    z = x + 100\n    return z\n")
TWO = Function(
    "two",
    "def two(x):\n    total = CALL(f, x, scale=3) + CALL(g, x)\n    after = total\n"
    "    return after\n",
)
FACT = Function(
    "fact",
    "def fact(n):\n    if n <= 1:\n        return 1\n    return n * CALL(fact, n - 1)\n",
)
BAD = Function(
    "bad", "def bad(x):\n    if x == 1:\n        raise ValueError('bad', x)\n    return x\n"
)
CATCHER = Function(
    "catcher",
    "def catcher(n):\n    t = 0\n    for i in range(n):\n        try:\n"
    "            t += CALL(bad, i)\n        except ValueError:\n            t -= 1\n    return t\n",
)
CHAIN = Function(
    "chain",
    "def chain(x):\n    try:\n        return CALL(bad, x)\n    except ValueError as exc:\n"
    "        raise KeyError('chained') from exc\n",
)

CORPUS: list[Program] = [
    Program("breakpoint, continue", (INNER, OUTER), RENDER, (("inner", 1),)),
    Program(
        "stepOut from a callee in a loop",
        (INNER, OUTER),
        RENDER,
        (("inner", 1),),
        steps=("stepOut", "next", "next", "stepOut"),
    ),
    Program(
        "next off a callee's return",
        (INNER, OUTER),
        RENDER,
        (("inner", 2),),
        steps=("next", "next", "next", "next"),
    ),
    Program(
        "stepIn on a call line, then step through",
        (INNER, OUTER),
        RENDER,
        (("outer", 3),),
        steps=("stepIn", "next", "next", "next", "next", "next"),
    ),
    Program(
        "stepIn twice, stepOut twice",
        (INNER, OUTER),
        RENDER,
        (("outer", 1),),
        steps=("next", "next", "stepIn", "stepOut", "stepOut", "stepOut"),
    ),
    Program(
        "the render cell is the caller",
        (INNER,),
        "r = CALL(inner, 5)\nprint(r)\n",
        (("inner", 2),),
        steps=("next", "next", "next"),
    ),
    Program(
        "stepIn from the render cell",
        (INNER,),
        "r = CALL(inner, 5)\nprint(r)\n",
        (("inner", 1),),
        steps=("stepOut", "stepIn"),
    ),
    Program(
        "stepOut to a line with a second call",
        (F, G, TWO),
        "print(CALL(two, 2))\n",
        (("f", 1),),
        steps=("stepOut", "stepOut", "stepOut"),
    ),
    Program(
        "next through two calls on one line",
        (F, G, TWO),
        "print(CALL(two, 2))\n",
        (("f", 2),),
        steps=("next", "next", "next", "next"),
    ),
    Program(
        "stepIn through two calls on one line, keyword arguments",
        (F, G, TWO),
        "print(CALL(two, 2))\n",
        (("two", 1),),
        steps=("stepIn", "stepOut", "stepIn", "next", "next", "next", "next"),
    ),
    Program(
        "stepOut in a recursion",
        (FACT,),
        "print(CALL(fact, 4))\n",
        (("fact", 2),),
        steps=("stepOut", "stepOut", "next", "stepOut", "next"),
    ),
    Program(
        "raised: caught in a loop",
        (BAD, CATCHER),
        "print(CALL(catcher, 3))\n",
        filters=("raised",),
        steps=("next", "next", "next"),
    ),
    Program(
        "raised and uncaught: uncaught in the render",
        (BAD, CHAIN),
        "print(CALL(chain, 1))\n",
        filters=("raised", "uncaught"),
    ),
    Program(
        "userUnhandled: through two kernels",
        (BAD, CHAIN),
        "print(CALL(chain, 1))\n",
        filters=("userUnhandled",),
    ),
    Program("uncaught only", (BAD, CATCHER), "print(CALL(bad, 1))\n", filters=("uncaught",)),
    Program(
        "step over a raise",
        (BAD, CATCHER),
        "print(CALL(catcher, 2))\n",
        (("bad", 2),),
        steps=("next", "next", "next", "next"),
    ),
]
