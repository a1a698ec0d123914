"""Canonical JSON: the exact bytes that get signed.

Keys sorted, no insignificant whitespace, UTF-8, no NaN/Infinity, and only
str/int/bool/None/list/dict values (floats are refused: their text form is not
stable across implementations). Parsing is strict: duplicate keys are an error.
"""

from __future__ import annotations

import json
from typing import Any

import orjson

from sild.errors import InvalidRequest

__all__ = ["canonical_json", "parse_json_object", "reference_canonical_json"]


_SCALARS = (str, int, bool, type(None))


def _check(value: Any) -> None:
    """Only str/int/bool/None/list/dict, string keys, at most 32 levels deep."""
    stack = [(value, 0)]
    pop, push = stack.pop, stack.append
    while stack:
        v, depth = pop()
        t = type(v)
        if t is str or t is int or t is bool or v is None:
            continue
        if depth > 32:
            raise InvalidRequest("JSON nested too deeply")
        if t is dict:
            for k, item in v.items():
                if type(k) is not str:
                    raise InvalidRequest("JSON object keys must be strings")
                push((item, depth + 1))
        elif t is list:
            for item in v:
                push((item, depth + 1))
        elif isinstance(v, float):
            raise InvalidRequest("floats are not allowed in canonical JSON")
        elif isinstance(v, _SCALARS):  # subclasses, e.g. str enums
            continue
        elif isinstance(v, dict | list):
            push((dict(v) if isinstance(v, dict) else list(v), depth))
        else:
            raise InvalidRequest(f"{type(v).__name__} is not a JSON value")


def reference_canonical_json(value: Any) -> bytes:
    """The definition, with the standard library (slow; the tests compare against it)."""
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode("utf-8")


def canonical_json(value: Any) -> bytes:
    """Canonical bytes of ``value``: orjson (10× faster) where it gives the same bytes as
    :func:`reference_canonical_json`, the reference for what it cannot encode (integers
    beyond 64 bits)."""
    _check(value)
    try:
        return orjson.dumps(value, option=orjson.OPT_SORT_KEYS)
    except (orjson.JSONEncodeError, TypeError):
        try:
            return reference_canonical_json(value)
        except UnicodeEncodeError as e:  # a lone surrogate is not text
            raise InvalidRequest("text in JSON must be valid Unicode") from e


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in pairs:
        if k in out:
            raise InvalidRequest(f"duplicate JSON key {k!r}")
        out[k] = v
    return out


def _no_constants(name: str) -> None:
    raise InvalidRequest(f"{name} is not allowed in JSON")


def parse_json_object(data: bytes, what: str) -> dict[str, Any]:
    """Parse bytes as one JSON object; :class:`InvalidRequest` naming ``what`` otherwise."""
    try:
        value = json.loads(
            data.decode("utf-8"),
            object_pairs_hook=_no_duplicates,
            parse_constant=_no_constants,
        )
    except UnicodeDecodeError as e:
        raise InvalidRequest(f"{what} is not UTF-8") from e
    except (ValueError, RecursionError) as e:
        if isinstance(e, InvalidRequest):
            raise
        raise InvalidRequest(f"{what} is not valid JSON: {e}") from e
    if not isinstance(value, dict):
        raise InvalidRequest(f"{what} must be a JSON object")
    return value
