"""Pure-Python checks of the examples/wikifunctions function library (no kernels).

Each ``functions/NAME.py`` is exec'd into its own namespace with a fake ``call``
builtin that dispatches to the other loaded functions, round-tripping arguments
and results through JSON (as the real meta-kernel does between child kernels).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "wikifunctions"
FUNCTIONS = EXAMPLE / "functions"
DATA = EXAMPLE / "data" / "entities.json"
KERNEL_LINE = re.compile(r"^# kernel: (\S+)\s*$")

NNBSP = "\u202f"  # narrow no-break space, French digit grouping


def function_files() -> list[Path]:
    return sorted(FUNCTIONS.glob("*.py"))


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
            first = source.splitlines()[0]
            match = KERNEL_LINE.match(first)
            self.kernels[name] = match.group(1) if match else "python3"
            namespace = {"call": self.call, "__name__": f"wikifunctions.{name}"}
            exec(compile(source, str(path), "exec"), namespace)
            self.functions[name] = namespace[name]

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
        assert KERNEL_LINE.match(first) or not first.startswith("#"), (path, first)
        assert not first.startswith("# kernel") or KERNEL_LINE.match(first), first
        assert re.search(rf"^def {name}\(", source, re.M), f"{path} lacks def {name}"
        match = KERNEL_LINE.match(first)
        kernels[name] = match.group(1) if match else "python3"
        # no other line may declare a kernel
        assert not any(KERNEL_LINE.match(line) for line in source.splitlines()[1:])
    assert kernels["format_quantity"] == "xpython"
    assert [n for n, k in kernels.items() if k != "python3"] == ["format_quantity"]


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


def test_failing_input(lib):
    with pytest.raises(KeyError) as info:
        lib.call("article_intro", "Q999", "en")
    assert info.value.args == ("time",)
    chain = lib.failure_stack
    assert chain == ["article_intro", "lifespan", "format_value", "format_date"]
    assert len(chain) - 1 >= 3  # format_date is 3 calls below article_intro
    # the innermost Python frame is inside format_date.py
    tb = info.tb
    while tb.tb_next is not None:
        tb = tb.tb_next
    assert Path(tb.tb_frame.f_code.co_filename).name == "format_date.py"
    assert tb.tb_frame.f_locals["value"] == {"type": "time", "precision": 11}


def test_unknown_entity(lib):
    with pytest.raises(KeyError, match="Q404"):
        lib.call("label", "Q404", "en")
