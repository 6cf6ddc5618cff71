"""Values on the call plane: arguments and results arrive equal and of the same type, or the
call fails loudly (sans-IO, standard library; imported inside child kernels).

The wire stays JSON that a runtime in any language can read. JSON values travel as
themselves; the Python values JSON has no form for travel *tagged*, as a JSON object with
exactly one key that starts with `$`:

- a `tuple`: `{"$tuple": [item, ...]}`;
- a `dict` whose keys are not all strings, or one of whose string keys starts with `$`:
  `{"$dict": [[key, value], ...]}` (a key: any value here that Python can hash);
- a `float` that is NaN or infinite: `{"$float": "nan"}` (or `"inf"`, `"-inf"`).

Anything else (a set, bytes, an object) is refused with `CallArgumentError` naming where
it sits: `args[0]['a'][1]: set`. A runtime that has no such value (JavaScript has no
tuple) maps it to its nearest value or refuses it, loudly as well.
"""

from __future__ import annotations

import json
import math
from typing import Any

from ..errors import CallArgumentError

_JSON_SCALARS = (str, int, bool, type(None))
_MAX_DEPTH = 200
#: the decoder's view of the tags (anything else with a `$` key decodes as a plain object)
_TAGS = ("$tuple", "$dict", "$float")
_FLOATS = {"nan": math.nan, "inf": math.inf, "-inf": -math.inf}


def _describe(value: Any) -> str:
    return type(value).__name__


def to_wire(value: Any, path: str) -> Any:
    """The JSON-able (tagged) form of `value`; CallArgumentError names what cannot travel."""
    return _to_wire(value, path, 0)


def _to_wire(value: Any, path: str, depth: int) -> Any:
    kind = type(value)
    if kind in _JSON_SCALARS:
        return value
    if kind is float:
        if math.isfinite(value):
            return value
        return {"$float": "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")}
    if depth >= _MAX_DEPTH:
        raise CallArgumentError(f"{path}: nested more than {_MAX_DEPTH} levels deep")
    depth += 1
    if kind is list:
        return [_to_wire(item, f"{path}[{i}]", depth) for i, item in enumerate(value)]
    if kind is tuple:
        return {"$tuple": [_to_wire(item, f"{path}[{i}]", depth) for i, item in enumerate(value)]}
    if kind is dict:
        if all(type(k) is str and not k.startswith("$") for k in value):
            return {k: _to_wire(v, f"{path}[{k!r}]", depth) for k, v in value.items()}
        return {
            "$dict": [
                [_to_wire(k, f"{path}: key {k!r}", depth), _to_wire(v, f"{path}[{k!r}]", depth)]
                for k, v in value.items()
            ]
        }
    raise CallArgumentError(
        f"{path}: {_describe(value)} cannot travel between kernels (JSON values, tuples, "
        "dicts with hashable keys of those types, and non-finite floats can)"
    )


def _untag(obj: dict[str, Any]) -> Any:
    if len(obj) != 1:
        return obj
    ((key, item),) = obj.items()
    if key not in _TAGS:
        return obj
    if key == "$tuple":
        return tuple(item)
    if key == "$float":
        return _FLOATS[item]
    return dict(item)  # keys that were tuples are tuples again already (decoded first)


def dumps(value: Any) -> bytes:
    """JSON bytes of an already tagged value."""
    return json.dumps(value, separators=(",", ":"), allow_nan=False).encode()


def encode_call(args: tuple | list, kwargs: dict[str, Any], where: str) -> bytes:
    """The payload of a call: `[args, kwargs]` (CallArgumentError names what cannot travel)."""
    wire_args = [to_wire(a, f"{where}: args[{i}]") for i, a in enumerate(args)]
    wire_kwargs = {k: to_wire(v, f"{where}: kwargs[{k!r}]") for k, v in kwargs.items()}
    return dumps([wire_args, wire_kwargs])


def encode_value(value: Any, where: str) -> bytes:
    """The payload of a result."""
    return dumps(to_wire(value, where))


def decode(payload: bytes | bytearray) -> Any:
    """A payload back into Python values (the inverse of `encode_call` / `encode_value`)."""
    return json.loads(payload, object_hook=_untag)
