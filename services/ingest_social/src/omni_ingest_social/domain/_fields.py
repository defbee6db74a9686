"""Reading provider JSON with errors that name the exact path of what is wrong."""

from __future__ import annotations

from typing import Any

import orjson

from omni_ingest_social.domain.batch import MalformedPayload

JsonObject = dict[str, Any]

MAX_DEPTH = 64
"""Deeper than any provider's documented shape, and far from Python's recursion limit, which
repr() and json.dumps() of a value nested a thousand levels (orjson reads 1024) would hit."""


def load_object(body: bytes, *, what: str) -> JsonObject:
    """The top-level JSON object of a webhook body; MalformedPayload when it is anything else."""
    try:
        doc = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise MalformedPayload("<body>", f"{what} body is not valid JSON: {exc}") from exc
    if not isinstance(doc, dict):
        raise MalformedPayload("<body>", f"{what} body must be a JSON object, got {_kind(doc)}")
    if _deeper_than(doc, MAX_DEPTH):
        raise MalformedPayload("<body>", f"{what} body nests objects and arrays deeper than {MAX_DEPTH} levels")
    return doc


def _deeper_than(doc: JsonObject, limit: int) -> bool:
    stack: list[tuple[dict[str, Any] | list[Any], int]] = [(doc, 1)]
    while stack:
        node, depth = stack.pop()
        for child in node.values() if isinstance(node, dict) else node:
            if isinstance(child, dict | list):
                if depth >= limit:
                    return True
                stack.append((child, depth + 1))
    return False


def _kind(value: object) -> str:
    return {dict: "object", list: "array", str: "string", bool: "boolean", type(None): "null"}.get(
        type(value), "number"
    )


def _fail(path: str, expected: str, value: object) -> MalformedPayload:
    return MalformedPayload(path, f"{path}: expected {expected}, got {_kind(value)}")


def obj(parent: JsonObject, key: str, path: str) -> JsonObject:
    value = parent.get(key)
    if not isinstance(value, dict):
        raise _fail(f"{path}.{key}" if path else key, "an object", value)
    return value


def opt_obj(parent: JsonObject, key: str, path: str) -> JsonObject | None:
    value = parent.get(key)
    if value is None:
        return None
    if not isinstance(value, dict):
        raise _fail(f"{path}.{key}" if path else key, "an object", value)
    return value


def arr(parent: JsonObject, key: str, path: str, *, required: bool = True) -> list[Any]:
    value = parent.get(key)
    if value is None and not required:
        return []
    if not isinstance(value, list):
        raise _fail(f"{path}.{key}" if path else key, "an array", value)
    return value


def item_obj(value: object, path: str) -> JsonObject:
    if not isinstance(value, dict):
        raise _fail(path, "an object", value)
    return value


def text(parent: JsonObject, key: str, path: str) -> str:
    """A required non-empty string (ids are accepted as JSON numbers too, as some providers send them)."""
    value = parent.get(key)
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise _fail(f"{path}.{key}" if path else key, "a string", value)
    result = str(value)
    if not result:
        raise MalformedPayload(f"{path}.{key}" if path else key, f"{path}.{key}: must not be empty")
    return result


def opt_text(parent: JsonObject, key: str, path: str) -> str | None:
    value = parent.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise _fail(f"{path}.{key}" if path else key, "a string", value)
    return str(value)


def integer(parent: JsonObject, key: str, path: str) -> int:
    value = parent.get(key)
    if isinstance(value, bool) or not isinstance(value, int):
        raise _fail(f"{path}.{key}" if path else key, "an integer", value)
    return value


def opt_int(parent: JsonObject, key: str, path: str) -> int | None:
    value = parent.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise _fail(f"{path}.{key}" if path else key, "an integer", value)
    return value


def epoch_seconds(value: object, path: str, *, millis: bool) -> float | None:
    """Epoch seconds or milliseconds given as a number or a numeric string (WhatsApp, X), in seconds."""
    if value is None:
        return None
    # isdigit() alone takes "²", which int() refuses, and "١٧", which it reads: ASCII digits only
    if isinstance(value, str) and value.isascii() and value.isdigit() and len(value) <= 20:
        number = int(value)
    elif isinstance(value, int) and not isinstance(value, bool):
        number = value
    else:
        raise MalformedPayload(path, f"{path}: expected an epoch timestamp, got {str(value)[:40]!r}")
    return number / 1000 if millis else float(number)
