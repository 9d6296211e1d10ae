"""Go ``encoding/json`` as Weaviate's module clients use it, for contract tests.

Weaviate's inference-module clients (Go) ``json.Marshal`` a request struct and ``json.Unmarshal``
the response into a struct. Python's ``json`` differs in ways a server author trips over: Go
writes compact JSON with ``<``, ``>``, ``&``, U+2028 and U+2029 escaped, drops ``omitempty`` fields
that hold a zero value, writes ``null`` for a nil slice; it reads keys case-insensitively (an exact
match wins), ignores unknown keys, leaves missing fields at their zero value, refuses ``NaN``, a
fraction or exponent where an ``int`` is expected, a string where a number is expected, and
decodes the body *before* the caller looks at the status code. This module reproduces those rules
for the handful of types the module clients use; the structs themselves live in
``weaviate_contract``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

__all__ = ["Scalar", "Slice", "Ptr", "MapAny", "Field", "Struct", "GoJSONError", "marshal", "unmarshal",
           "STRING", "INT", "INT64", "FLOAT32", "FLOAT64", "BOOL"]

FLOAT32_MAX = 3.4028234663852886e38


class GoJSONError(ValueError):
    """What ``json.Unmarshal`` would return (the message follows Go's wording)."""


@dataclass(frozen=True)
class Scalar:
    go: str  # "string" | "int" | "int64" | "float32" | "float64" | "bool"


@dataclass(frozen=True)
class Slice:
    elem: Any


@dataclass(frozen=True)
class Ptr:
    elem: Any


@dataclass(frozen=True)
class MapAny:
    """``map[string]interface{}`` (``map[string]any``)."""


@dataclass(frozen=True)
class Field:
    json: str
    type: Any
    omitempty: bool = False


@dataclass(frozen=True)
class Struct:
    go: str  # package.Type, as Go names it in error messages
    source: str  # the Go file (and commit) it mirrors
    fields: tuple[Field, ...]

    def names(self) -> list[str]:
        return [f.json for f in self.fields]


STRING, INT, INT64 = Scalar("string"), Scalar("int"), Scalar("int64")
FLOAT32, FLOAT64, BOOL = Scalar("float32"), Scalar("float64"), Scalar("bool")


def _go_name(t) -> str:
    if isinstance(t, Scalar):
        return t.go
    if isinstance(t, Slice):
        return "[]" + _go_name(t.elem)
    if isinstance(t, Ptr):
        return "*" + _go_name(t.elem)
    if isinstance(t, MapAny):
        return "map[string]interface {}"
    return t.go


def zero(t):
    if isinstance(t, Scalar):
        return {"string": "", "bool": False}.get(t.go, 0)
    if isinstance(t, Struct):
        return {f.json: zero(f.type) for f in t.fields}
    return None  # nil slice, pointer, map


# -- Marshal -----------------------------------------------------------------------------------
def _is_empty(t, value) -> bool:
    if value is None:
        return True
    if isinstance(t, (Slice, MapAny)):
        return len(value) == 0
    if isinstance(t, Scalar):
        return value == {"string": "", "bool": False}.get(t.go, 0)
    return False  # structs are never empty for omitempty


def _to_jsonable(t, value):
    if isinstance(t, Struct):
        value = value or {}
        unknown = set(value) - set(t.names())
        if unknown:
            raise KeyError(f"{t.go} has no fields {sorted(unknown)}")
        out = {}
        for f in t.fields:
            v = value.get(f.json, zero(f.type))
            if f.omitempty and _is_empty(f.type, v):
                continue
            out[f.json] = _to_jsonable(f.type, v)
        return out
    if value is None:
        return None
    if isinstance(t, Slice):
        return [_to_jsonable(t.elem, v) for v in value]
    if isinstance(t, Ptr):
        return _to_jsonable(t.elem, value)
    return value


def marshal(t, value) -> bytes:
    """The bytes Go's ``json.Marshal`` produces for ``value`` (a dict keyed by json names)."""
    text = json.dumps(_to_jsonable(t, value), ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    for char, escaped in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026"), ("\u2028", "\\u2028"),
                          ("\u2029", "\\u2029")):
        text = text.replace(char, escaped)  # these characters only occur inside JSON strings
    return text.encode("utf-8")


# -- Unmarshal ---------------------------------------------------------------------------------
class _FloatLiteral(float):
    """A JSON number written with a fraction or exponent (Go refuses it for integer fields)."""


def _no_constants(name: str):
    raise GoJSONError(f"invalid character '{name[0]}' looking for beginning of value")


def parse(body: bytes):
    if not body.strip():
        raise GoJSONError("unexpected end of JSON input")
    try:
        return json.loads(body, parse_float=_FloatLiteral, parse_constant=_no_constants)
    except json.JSONDecodeError as exc:
        raise GoJSONError(f"invalid JSON: {exc.msg}") from exc
    except UnicodeDecodeError as exc:
        raise GoJSONError("invalid UTF-8 in JSON input") from exc


def _json_kind(v) -> str:
    if isinstance(v, bool):
        return "bool"
    if isinstance(v, (int, float)):
        return "number"
    return {str: "string", list: "array", dict: "object"}[type(v)]


def _type_error(v, t, where: str):
    place = f"Go struct field {where}" if where else "Go value"
    return GoJSONError(f"json: cannot unmarshal {_json_kind(v)} into {place} of type {_go_name(t)}")


def _decode(t, v, where: str):
    if v is None:  # null leaves the value at its zero value (nil for slices, pointers, maps)
        return zero(t)
    if isinstance(t, Ptr):
        return _decode(t.elem, v, where)
    if isinstance(t, MapAny):
        if not isinstance(v, dict):
            raise _type_error(v, t, where)
        return dict(v)
    if isinstance(t, Slice):
        if not isinstance(v, list):
            raise _type_error(v, t, where)
        return [_decode(t.elem, item, where) for item in v]
    if isinstance(t, Struct):
        return _decode_struct(t, v, where)
    return _decode_scalar(t, v, where)


def _decode_scalar(t: Scalar, v, where: str):
    if t.go == "string":
        if not isinstance(v, str):
            raise _type_error(v, t, where)
        return v
    if t.go == "bool":
        if not isinstance(v, bool):
            raise _type_error(v, t, where)
        return v
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        raise _type_error(v, t, where)
    if t.go in ("int", "int64"):
        if isinstance(v, float):  # a fraction or an exponent in the literal
            raise GoJSONError(f"json: cannot unmarshal number {v!r} into Go struct field {where} of type {t.go}")
        return int(v)
    if t.go == "float32" and abs(v) > FLOAT32_MAX:
        raise GoJSONError(f"json: cannot unmarshal number {v!r} into Go struct field {where} of type float32")
    return float(v)


def _decode_struct(t: Struct, v, where: str):
    if not isinstance(v, dict):
        raise _type_error(v, t, where)
    out = zero(t)
    by_name = {f.json: f for f in t.fields}
    by_fold = {f.json.casefold(): f for f in t.fields}
    for key, item in v.items():
        f = by_name.get(key) or by_fold.get(key.casefold())
        if f is None:
            continue  # unknown keys are ignored
        out[f.json] = _decode(f.type, item, f"{t.go.split('.')[-1]}.{f.json}")
    return out


def unmarshal(t, body: bytes):
    """Decode ``body`` into ``t`` the way ``json.Unmarshal`` does, or raise ``GoJSONError``."""
    return _decode(t, parse(body), "")
