"""Compact JSON schemas for `tools/list`: every byte there is spent in the assistant's context on every turn.

Input schemas keep every property, type, limit and description, minus what says nothing: pydantic's `title`s
(the property names say the same), `default: null` and `default: false` (an omitted flag is off), the `null`
alternative of optional parameters (omitting a parameter is how to leave it out; pydantic still accepts an explicit
null), `minLength: 1` (no model sends an empty prompt on purpose, and pydantic still refuses one) and length caps of
a million or more (safety bounds no model comes near; pydantic still enforces them).

Output schemas name every top-level field as required (all of them are always present) and give the type of each
plain field (text, numbers, flags, and whether it may be null), at about 27 bytes a field. Lists and objects (usage,
cost, OCR pages, search results) are named but not typed: their shapes are documented in docs/tools.md, and typing
them was about as many bytes again for little, since a model reads the structured content itself, not its schema. The
structured content still conforms, and the tools validate it against the full pydantic models before it is sent.
"""

from __future__ import annotations

from typing import Any

Schema = dict[str, Any]


def input_schema(schema: Schema) -> Schema:
    """A smaller input schema that accepts every argument the tool accepts without an explicit null."""
    properties = {name: _field(prop) for name, prop in schema.get("properties", {}).items()}
    out: Schema = {"type": "object", "properties": properties}
    if schema.get("required"):
        out["required"] = schema["required"]
    return out


def output_schema(schema: Schema) -> Schema:
    """An object with every top-level field of `schema` required (structured content always carries them all), and
    the type of each plain one."""
    fields: dict[str, Schema] = schema.get("properties", {})
    typed = {name: {"type": kind} for name, prop in fields.items() if (kind := _plain_type(prop)) is not None}
    out: Schema = {"type": "object"}
    if typed:
        out["properties"] = typed
    out["required"] = list(fields)
    return out


_PLAIN = ("string", "integer", "number", "boolean")


def _plain_type(prop: Schema) -> str | list[str] | None:
    """ "string", ["string", "null"] and the like for a plain field; None for lists, objects and mixtures."""
    if prop.get("type") in _PLAIN:
        return str(prop["type"])
    options = [option.get("type") for option in prop.get("anyOf", []) if isinstance(option, dict)]
    if len(options) == 2 and "null" in options:
        kind = next(option for option in options if option != "null")
        return [kind, "null"] if kind in _PLAIN else None
    return None


def _field(prop: Schema) -> Schema:
    options = prop.get("anyOf")
    if isinstance(options, list):
        concrete = [o for o in options if o != {"type": "null"}]
        if len(concrete) == 1:
            prop = {**{k: v for k, v in prop.items() if k != "anyOf"}, **concrete[0]}
    return {k: v for k, v in prop.items() if k != "title" and not _says_nothing(k, v)}


def _says_nothing(key: str, value: Any) -> bool:
    if key == "default":
        return value is None or value is False
    if key == "minLength":
        return bool(value == 1)
    return _huge(key, value)


def _huge(key: str, value: Any) -> bool:
    return key in ("maxLength", "maxItems") and isinstance(value, int) and value >= _SAFETY_BOUND


_SAFETY_BOUND = 1_000_000
