"""One voice for a tool's bad arguments: what was wrong and what is allowed, said from the tool's own published
schema, with none of pydantic's wording, error codes or links (server.py catches the SDK's validation here).

A value a caller passed is quoted only when it is short and plain (a number, a short word); text is described by
its length, so a mistaken prompt or a pasted secret is never echoed back.
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import ValidationError

MAX_SAID = 3  # problems named in one answer; a model fixes these and hears of the rest next time
_QUOTED = 40  # characters of a value quoted back

Schema = dict[str, Any]


def explain(tool: str, error: ValidationError, schema: Schema) -> str:
    """One message for every problem pydantic found in a call's arguments."""
    properties: dict[str, Schema] = schema.get("properties", {})
    problems = error.errors(include_url=False, include_context=True)
    said = [_problem(problem, properties) for problem in problems[:MAX_SAID]]
    more = f" ({len(problems) - MAX_SAID} more problems not listed)" if len(problems) > MAX_SAID else ""
    # The SDK's prefix, as every other tool error has it: a crash is the prefix alone, so it tells them apart.
    return f"Error executing tool {tool}: {'; '.join(said)}{more}."


def _problem(problem: Any, properties: dict[str, Schema]) -> str:
    loc = [part for part in problem.get("loc", ()) if isinstance(part, str | int)]
    name = str(loc[0]) if loc else "arguments"
    path = name + "".join(f"[{part}]" for part in loc[1:] if isinstance(part, int))
    prop = properties.get(name, {})
    if path != name:  # an item of a list: what the list's items must be
        prop = prop.get("items", {}) if isinstance(prop.get("items"), dict) else {}
    return f"`{path}` {_what(problem)}; {_allowed(prop, problem)}"


def _what(problem: Any) -> str:
    kind, value, ctx = problem.get("type", ""), problem.get("input"), problem.get("ctx") or {}
    if kind == "missing":
        return "is missing"
    if kind == "value_error" and "error" in ctx:
        return str(ctx["error"])  # our own validators say what was wrong (core/text.py)
    if kind in ("string_too_short", "string_too_long") and isinstance(value, str):
        return "is empty" if not value else f"is {len(value)} characters long"
    if kind in ("too_short", "too_long") and isinstance(value, list | dict):
        return f"has {len(value)} items"
    return f"is {_shown(value)}"


def _allowed(prop: Schema, problem: Any) -> str:
    ctx = problem.get("ctx") or {}
    if "enum" in prop:
        return "pass one of " + ", ".join(str(choice) for choice in prop["enum"])
    kind = prop.get("type")
    if kind in ("integer", "number"):
        low, high = prop.get("minimum", ctx.get("ge")), prop.get("maximum", ctx.get("le"))
        noun = "a whole number" if kind == "integer" else "a number"
        return "pass " + noun + _range(low, high)
    if kind == "boolean":
        return "pass true or false"
    if kind == "array":
        items = prop.get("items", {}).get("type", "value")
        return f"pass a list of {items}s" + (f" (at most {prop['maxItems']})" if "maxItems" in prop else "")
    if kind == "string" or "max_length" in ctx or "min_length" in ctx:
        most = prop.get("maxLength", ctx.get("max_length"))
        length = f" of at most {most} characters" if isinstance(most, int) else ""
        about = f" ({prop['description'].rstrip('.')})" if prop.get("description") else ""
        return f"pass text{length}{about}"
    return "see the tool's input schema"


def _range(low: Any, high: Any) -> str:
    # Numbers as the schema writes them (4096, not 4,096): the caller matches one against the other.
    if low is not None and high is not None:
        return f" from {low} to {high}"
    if low is not None:
        return f" of at least {low}"
    return f" of at most {high}" if high is not None else ""


def _shown(value: Any) -> str:
    if isinstance(value, bool) or value is None:
        return json.dumps(value)
    if isinstance(value, int | float):
        return str(value) if abs(value) < 10**15 else "a very large number"
    if isinstance(value, str):
        plain = len(value) <= _QUOTED and value.isprintable()
        return f"the text {json.dumps(value)}" if plain else f"text of {len(value)} characters"
    if isinstance(value, list):
        return f"a list of {len(value)} items"
    return "an object" if isinstance(value, dict) else f"a {type(value).__name__}"
