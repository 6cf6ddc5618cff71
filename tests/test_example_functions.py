"""Checks of the examples/wikifunctions function library without kernels.

Each ``functions/NAME.py`` is exec'd into its own namespace with a fake ``call`` builtin
that dispatches to the other loaded functions, round-tripping arguments and results
through JSON (as the real meta-kernel does between child kernels); each ``NAME.js`` runs
in a node process of its own whose ``call`` asks back synchronously (js_example_runner.cjs).
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "wikifunctions"
FUNCTIONS = EXAMPLE / "functions"
DATA = EXAMPLE / "data" / "entities.json"
RUNNER = Path(__file__).resolve().parent / "js_example_runner.cjs"
KERNEL_LINE = re.compile(r"^(?:#|//) kernel: (\S+)\s*$")
DEFAULT_KERNELS = {".py": "python3", ".js": "metakernel_dbg_js"}

NNBSP = "\u202f"  # narrow no-break space, French digit grouping


def function_files() -> list[Path]:
    return sorted([*FUNCTIONS.glob("*.py"), *FUNCTIONS.glob("*.js")])


class JsError(Exception):
    """A JS function threw: its error's name, message and the line it was thrown at."""

    def __init__(self, name: str, message: str, where: str) -> None:
        super().__init__(f"{name}: {message}")
        self.name, self.message, self.where = name, message, where


class Library:
    """Loads every function file; ``call`` dispatches between them via JSON."""

    def __init__(self) -> None:
        self.functions = {}
        self.kernels = {}
        self.stack: list[str] = []
        self.calls: list[str] = []
        self.failure_stack: list[str] | None = None
        for path in function_files():
            name = path.stem
            source = path.read_text(encoding="utf-8")
            match = KERNEL_LINE.match(source.splitlines()[0])
            self.kernels[name] = match.group(1) if match else DEFAULT_KERNELS[path.suffix]
            if path.suffix == ".js":
                self.functions[name] = self._js(path)
                continue
            namespace = {"call": self.call, "__name__": f"wikifunctions.{name}"}
            exec(compile(source, str(path), "exec"), namespace)
            self.functions[name] = namespace[name]

    def _js(self, path: Path):
        def run(*args):
            proc = subprocess.Popen(
                ["node", str(RUNNER), str(path), path.stem],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                text=True,
            )
            try:
                return self._serve(proc, args)
            finally:
                proc.kill()
                proc.wait(timeout=10)

        return run

    def _serve(self, proc: subprocess.Popen, args: tuple):
        proc.stdin.write(json.dumps(args) + "\n")
        proc.stdin.flush()
        while True:
            msg = json.loads(proc.stdout.readline())
            if "return" in msg:
                return msg["return"]
            if "raise" in msg:
                raise JsError(**msg["raise"])
            try:
                reply = {"value": self.call(msg["call"], *msg["args"])}
            except JsError as exc:  # rethrown into the JS caller as it was
                reply = {"error": {"name": exc.name, "message": exc.message, "where": exc.where}}
            except Exception as exc:  # noqa: BLE001 - thrown into the JS caller
                reply = {"error": {"name": type(exc).__name__, "message": str(exc)}}
            proc.stdin.write(json.dumps(reply) + "\n")
            proc.stdin.flush()

    def call(self, name, *args):
        args = json.loads(json.dumps(list(args)))
        self.stack.append(name)
        self.calls.append(name)
        try:
            result = self.functions[name](*args)
        except Exception:
            if self.failure_stack is None:  # innermost frame records first
                self.failure_stack = list(self.stack)
            raise
        finally:
            self.stack.pop()
        text = json.dumps(result)  # raises TypeError if not a JSON value
        return json.loads(text)


@pytest.fixture
def lib(monkeypatch) -> Library:
    monkeypatch.setenv("WIKIFUNCTIONS_DATA", str(DATA))
    return Library()


def test_file_layout():
    files = function_files()
    assert len(files) >= 7
    kernels = {}
    for path in files:
        name = path.stem
        source = path.read_text(encoding="utf-8")
        first = source.splitlines()[0]
        comment = "#" if path.suffix == ".py" else "//"
        assert KERNEL_LINE.match(first) or not first.startswith(f"{comment} kernel"), first
        definition = rf"^def {name}\(" if path.suffix == ".py" else rf"^function {name}\("
        assert re.search(definition, source, re.M), f"{path} lacks {name}"
        match = KERNEL_LINE.match(first)
        kernels[name] = match.group(1) if match else DEFAULT_KERNELS[path.suffix]
        # no other line may declare a kernel
        assert not any(KERNEL_LINE.match(line) for line in source.splitlines()[1:])
    assert kernels["format_quantity"] == "xpython"
    assert {n for n, k in kernels.items() if k == "metakernel_dbg_js"} == {
        "lifespan",
        "format_date",
    }
    assert {n for n, k in kernels.items() if k not in ("python3", "metakernel_dbg_js")} == {
        "format_quantity"
    }


def test_data_file_shape():
    entities = json.loads(DATA.read_text(encoding="utf-8"))
    assert 6 <= len(entities) <= 8
    for qid, record in entities.items():
        assert re.fullmatch(r"Q\d+", qid)
        assert {"en", "fr"} <= set(record["labels"])
        for values in record["claims"].values():
            for value in values:
                assert value["type"] in {"item", "time", "quantity", "monolingualtext"}
    assert "time" not in entities["Q999"]["claims"]["P569"][0]


def test_article_intro_en(lib):
    assert (
        lib.call("article_intro", "Q42", "en")
        == "Douglas Adams (11 March 1952 \u2013 11 May 2001) was a British writer."
    )


def test_article_intro_fr(lib):
    assert (
        lib.call("article_intro", "Q42", "fr")
        == "Douglas Adams (11 mars 1952 \u2013 11 mai 2001) était un écrivain britannique."
    )


def test_article_intro_person_crosses_python_js_python(lib):
    lib.call("article_intro", "Q42", "en")
    assert lib.calls[:5] == ["article_intro", "label", "entity", "claim", "entity"]
    at = lib.calls.index("lifespan")
    assert lib.calls[at : at + 3] == ["lifespan", "claim", "entity"], "JS calls Python"
    assert {lib.kernels[name] for name in lib.calls} == {"python3", "metakernel_dbg_js"}


def test_article_intro_place_mixes_kernels(lib):
    assert (
        lib.call("article_intro", "Q90", "en")
        == "Paris is a city in France with a population of 2,145,906."
    )
    assert (
        lib.call("article_intro", "Q90", "fr")
        == f"Paris est une ville de France qui compte 2{NNBSP}145{NNBSP}906 habitants."
    )
    used = {lib.kernels[name] for name in lib.calls}
    assert used == {"python3", "xpython"}


def test_infobox(lib):
    assert lib.call("infobox", "Q42", "en") == {
        "title": "Douglas Adams",
        "rows": [
            ["instance of", "human"],
            ["date of birth", "11 March 1952"],
            ["date of death", "11 May 2001"],
            ["country of citizenship", "United Kingdom"],
            ["occupation", "writer"],
        ],
    }
    assert lib.call("infobox", "Q90", "fr") == {
        "title": "Paris",
        "rows": [
            ["nature de l'élément", "ville"],
            ["pays", "France"],
            ["population", f"2{NNBSP}145{NNBSP}906"],
        ],
    }


def test_leaf_functions(lib):
    value = {"type": "quantity", "amount": "+2145906", "unit": "1"}
    assert lib.call("format_quantity", value, "en") == "2,145,906"
    assert lib.call("format_quantity", value, "de") == "2.145.906"
    assert lib.call("format_quantity", {"amount": "-1234.5", "unit": "km"}, "fr") == (
        f"-1{NNBSP}234,5 km"
    )
    date = {"type": "time", "time": "+2001-05-01T00:00:00Z", "precision": 11}
    assert lib.call("format_date", date, "en") == "1 May 2001"
    assert lib.call("format_date", date, "fr") == "1er mai 2001"
    assert lib.call("format_date", date, "de") == "1. Mai 2001"
    assert lib.call("format_date", dict(date, precision=9), "en") == "2001"
    assert lib.call("label", "Q145", "de") == "Vereinigtes Königreich"
    assert lib.call("claim", "Q42", "P27") == {"type": "item", "id": "Q145"}
    assert lib.call("claim", "Q42", "P1082") is None
    assert lib.call("demonym", "Q142", "fr") == "français"
    assert lib.call("lifespan", "Q42", "en") == "11 March 1952 \u2013 11 May 2001"
    assert lib.call("description", "Q42", "en") == "British writer"


#: how the documented failing input fails (as the call plane reports it)
Q999_ERROR = {
    "type": "TypeError",
    "message": "Cannot read properties of undefined (reading 'split')",
}


def test_failing_input(lib):
    with pytest.raises(JsError) as info:
        lib.call("article_intro", "Q999", "en")
    assert {"type": info.value.name, "message": info.value.message} == Q999_ERROR
    chain = lib.failure_stack
    assert chain == ["article_intro", "lifespan", "format_value", "format_date"]
    assert len(chain) - 1 >= 3  # format_date is 3 calls below article_intro
    # thrown inside format_date.js, on the line that reads value.time
    lines = (FUNCTIONS / "format_date.js").read_text(encoding="utf-8").splitlines()
    line = next(i for i, text in enumerate(lines, 1) if "value.time.split" in text)
    assert f"format_date.js:{line}:" in info.value.where


def test_unknown_entity(lib):
    with pytest.raises(KeyError, match="Q404"):
        lib.call("label", "Q404", "en")
