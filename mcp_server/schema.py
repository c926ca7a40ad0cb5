"""Compact JSON schemas for `tools/list`: every byte there is spent in the assistant's context on every turn.

Input schemas keep every property, type, limit and description, minus what says nothing: pydantic's `title`s
(the property names say the same), `default: null`, the `null` alternative of optional parameters (omitting a
parameter is how to leave it out; pydantic still accepts an explicit null), and length caps of a million or more
(safety bounds no model comes near; pydantic still enforces them).

Output schemas name every top-level field with its type; nested objects (usage, cost, OCR pages) are declared as
objects without their inner fields, which README documents. They leave out `required`: every result carries every
field (the tools build it from the full pydantic models, which validate it before it is sent), so the list would
only repeat the property names. The structured content still conforms.
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
    """The top level of an output schema, nested objects reduced to their type."""
    properties = {name: {"type": _types(prop)} for name, prop in schema.get("properties", {}).items()}
    return {"type": "object", "properties": properties}


def _field(prop: Schema) -> Schema:
    options = prop.get("anyOf")
    if isinstance(options, list):
        concrete = [o for o in options if o != {"type": "null"}]
        if len(concrete) == 1:
            prop = {**{k: v for k, v in prop.items() if k != "anyOf"}, **concrete[0]}
    return {k: v for k, v in prop.items() if k != "title" and not (k == "default" and v is None) and not _huge(k, v)}


def _huge(key: str, value: Any) -> bool:
    return key in ("maxLength", "maxItems") and isinstance(value, int) and value >= _SAFETY_BOUND


_SAFETY_BOUND = 1_000_000


def _types(prop: Schema) -> str | list[str]:
    if "$ref" in prop:
        return "object"
    options = prop.get("anyOf")
    if isinstance(options, list):
        return [t for option in options for t in _as_list(_types(option))]
    found = prop.get("type", "object")
    return found if isinstance(found, str | list) else "object"


def _as_list(types: str | list[str]) -> list[str]:
    return [types] if isinstance(types, str) else types
