"""A JSON value valid for a JSON schema, drawn from a seeded generator: what a structured-output
answer says.

Covers what structured outputs take: ``type`` (one or a list), ``enum``, ``const``, objects with
``properties``, ``required`` and ``additionalProperties: false`` (only declared properties are
written; optional ones are drawn), arrays with ``items``, ``minItems``/``maxItems`` and
``uniqueItems``, numbers with ``minimum``/``maximum``/``exclusiveMinimum``/``exclusiveMaximum``/
``multipleOf``, strings with ``minLength``/``maxLength`` and the common ``format`` values,
``anyOf``/``oneOf``/``allOf`` and local ``$ref`` (``#/$defs/...``, ``#/definitions/...``).
``pattern`` is not generated for: a string with one gets a plain word.
"""

from __future__ import annotations

import math
import random
from typing import Any

__all__ = ["value_for"]

_WORDS = ("alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel", "india", "juliet")
_FORMATS = {
    "date": "2026-01-{day:02d}",
    "date-time": "2026-01-{day:02d}T12:00:00Z",
    "time": "12:{day:02d}:00",
    "email": "user{day}@example.com",
    "uri": "https://example.com/item/{day}",
    "uuid": "00000000-0000-4000-8000-0000000000{day:02d}",
    "hostname": "host{day}.example.com",
    "ipv4": "192.0.2.{day}",
    "ipv6": "2001:db8::{day}",
}
_MAX_DEPTH = 12


def value_for(schema: Any, rng: random.Random) -> Any:
    """A value valid for ``schema`` (the root document ``$ref`` resolves against)."""
    return _Draw(schema if isinstance(schema, dict) else {}, rng).value(schema, 0)


class _Draw:
    def __init__(self, root: dict[str, Any], rng: random.Random) -> None:
        self.root = root
        self.rng = rng

    def resolve(self, schema: dict[str, Any]) -> dict[str, Any]:
        seen = 0
        while isinstance(schema.get("$ref"), str) and seen < _MAX_DEPTH:
            node: Any = self.root
            for part in schema["$ref"].lstrip("#").strip("/").split("/"):
                if not part:
                    continue
                part = part.replace("~1", "/").replace("~0", "~")
                node = node.get(part) if isinstance(node, dict) else None
            schema = {**(node if isinstance(node, dict) else {}), **{k: v for k, v in schema.items() if k != "$ref"}}
            seen += 1
        return schema

    def value(self, schema: Any, depth: int) -> Any:
        if not isinstance(schema, dict) or schema is True:
            return None if depth else {}
        schema = self.resolve(schema)
        if "const" in schema:
            return schema["const"]
        if isinstance(schema.get("enum"), list) and schema["enum"]:
            return self.rng.choice(schema["enum"])
        for key in ("anyOf", "oneOf"):
            options = schema.get(key)
            if isinstance(options, list) and options:
                # Prefer a non-null branch deep down, so values stay small but say something.
                return self.value({**_without(schema, key), **self.rng.choice(options)}, depth)
        if isinstance(schema.get("allOf"), list):
            merged = _without(schema, "allOf")
            for part in schema["allOf"]:
                if isinstance(part, dict):
                    merged = _merge(merged, self.resolve(part))
            return self.value(merged, depth)
        kind = schema.get("type")
        if isinstance(kind, list):
            kinds = [k for k in kind if k != "null"] or kind
            kind = self.rng.choice(kinds) if kinds else None
        if kind is None:
            kind = "object" if "properties" in schema else ("array" if "items" in schema else "string")
        if depth >= _MAX_DEPTH and kind in ("object", "array"):
            return {} if kind == "object" else []
        return getattr(self, f"_{kind}", self._null)(schema, depth)

    def _object(self, schema: dict[str, Any], depth: int) -> dict[str, Any]:
        props: dict[str, Any] = schema["properties"] if isinstance(schema.get("properties"), dict) else {}
        required = [r for r in schema.get("required") or [] if isinstance(r, str)]
        out: dict[str, Any] = {}
        for name, sub in props.items():
            if name in required or self.rng.random() < 0.5:
                out[name] = self.value(sub, depth + 1)
        extra = schema.get("additionalProperties")
        for name in required:  # required but not declared: allowed unless additionalProperties is false
            if name not in out and extra is not False:
                out[name] = self.value(extra if isinstance(extra, dict) else {"type": "string"}, depth + 1)
        low = schema.get("minProperties")
        if isinstance(low, int) and extra is not False:
            while len(out) < low:
                out[f"extra_{len(out)}"] = self.value(extra if isinstance(extra, dict) else {}, depth + 1)
        return out

    def _array(self, schema: dict[str, Any], depth: int) -> list[Any]:
        low = _int(schema, "minItems", 0)
        high = _int(schema, "maxItems", low + 3)
        count = self.rng.randint(low, max(low, min(high, low + 3)))
        prefix: list[Any] = schema["prefixItems"] if isinstance(schema.get("prefixItems"), list) else []
        items = schema.get("items") if isinstance(schema.get("items"), dict) else {"type": "string"}
        out: list[Any] = []
        for i in range(count):
            sub = prefix[i] if i < len(prefix) else items
            value = self.value(sub, depth + 1)
            if schema.get("uniqueItems"):
                for _ in range(20):
                    if value not in out:
                        break
                    value = self.value(sub, depth + 1)
                else:
                    break
            out.append(value)
        return out

    def _string(self, schema: dict[str, Any], depth: int) -> str:
        low = _int(schema, "minLength", 0)
        high = _int(schema, "maxLength", -1)
        template = _FORMATS.get(str(schema.get("format")))
        if template is not None:
            text = template.format(day=self.rng.randint(1, 28))
        else:
            text = " ".join(self.rng.choice(_WORDS) for _ in range(self.rng.randint(1, 3)))
        while len(text) < low:
            text += " " + self.rng.choice(_WORDS)
        if high >= 0 and len(text) > high:
            text = text[: max(high, low)]
        return text

    def _integer(self, schema: dict[str, Any], depth: int) -> int:
        low, high = _bounds(schema, integer=True)
        step = schema.get("multipleOf")
        if isinstance(step, int) and not isinstance(step, bool) and step > 0:
            first, last = math.ceil(low / step), math.floor(high / step)
            return self.rng.randint(first, max(first, last)) * step
        return self.rng.randint(int(low), int(max(low, high)))

    def _number(self, schema: dict[str, Any], depth: int) -> float | int:
        if isinstance(schema.get("multipleOf"), int):
            return self._integer(schema, depth)
        low, high = _bounds(schema, integer=False)
        value = round(self.rng.uniform(low, high), 3)
        return min(max(value, low), high)

    def _boolean(self, schema: dict[str, Any], depth: int) -> bool:
        return self.rng.random() < 0.5

    def _null(self, schema: dict[str, Any], depth: int) -> None:
        return None


def _int(schema: dict[str, Any], key: str, default: int) -> int:
    value = schema.get(key)
    return value if isinstance(value, int) and not isinstance(value, bool) else default


def _without(schema: dict[str, Any], key: str) -> dict[str, Any]:
    return {k: v for k, v in schema.items() if k != key}


def _merge(a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    merged = {**a, **b}
    if isinstance(a.get("properties"), dict) and isinstance(b.get("properties"), dict):
        merged["properties"] = {**a["properties"], **b["properties"]}
    if isinstance(a.get("required"), list) and isinstance(b.get("required"), list):
        merged["required"] = [*a["required"], *b["required"]]
    return merged


def _bounds(schema: dict[str, Any], *, integer: bool) -> tuple[float, float]:
    """The inclusive range a number must lie in (a small default range around what is given)."""
    low: float | None = None
    high: float | None = None
    tiny = 1 if integer else 0.001
    for key, exclusive in (("minimum", False), ("exclusiveMinimum", True)):
        value = schema.get(key)
        if isinstance(value, int | float) and not isinstance(value, bool):
            value = value + tiny if exclusive else value
            low = value if low is None else max(low, value)
    for key, exclusive in (("maximum", False), ("exclusiveMaximum", True)):
        value = schema.get(key)
        if isinstance(value, int | float) and not isinstance(value, bool):
            value = value - tiny if exclusive else value
            high = value if high is None else min(high, value)
    if integer:
        low = math.ceil(low) if low is not None else None
        high = math.floor(high) if high is not None else None
    if low is None and high is None:
        low, high = 0, 100
    elif low is None:
        low = (high or 0) - 100
    elif high is None:
        high = low + 100
    assert low is not None and high is not None
    return low, max(low, high)
