"""Bad arguments, in one voice for every tool: what was wrong and what is allowed, with none of pydantic's wording or
links, and nothing sent upstream. Generic over tools/list, so a tool or parameter added later is held to it."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import connect, make_settings
from tests.fake_upstream import FakeUpstream

pytestmark = pytest.mark.anyio
PYDANTIC = ("pydantic", "validation error", "type=", "input_value", "Input should", "Field required", "Arguments ")
BLANK = " \n\t "


def _bad(prop: dict[str, Any]) -> Any:
    """A value of the wrong kind for `prop`."""
    if "enum" in prop:
        return "not-one-of-them"
    return {"integer": "lots", "number": "lots", "boolean": "maybe", "array": 7}.get(prop.get("type", ""), 7)


def _text(result: Any) -> str:
    return str(result.content[0].text)


async def test_every_parameter_of_every_tool_refuses_a_wrong_value_saying_what_is_allowed(
    deepseek: FakeUpstream,
) -> None:
    async with connect(make_settings(deepseek)) as client:
        tools = (await client.list_tools()).tools
        answers = []
        for tool in tools:
            schema = tool.input_schema
            valid = {name: "x" for name in schema.get("required", [])}
            for name, prop in schema["properties"].items():
                result = await client.call_tool(tool.name, {**valid, name: _bad(prop)})
                answers.append((f"{tool.name}.{name}", result))
            if valid:
                answers.append((f"{tool.name} without arguments", await client.call_tool(tool.name, {})))
    assert len(answers) > 40
    for what, result in answers:
        text = _text(result)
        assert result.is_error, what
        assert text.startswith(f"Error executing tool {what.split('.')[0].split()[0]}: `"), (what, text)
        assert "; pass " in text, (what, text)
        assert not any(word in text for word in PYDANTIC), (what, text)
    assert deepseek.requests == []


async def test_a_wrong_value_is_named_with_its_bounds_and_a_long_text_is_measured_not_echoed() -> None:
    async with connect(make_settings()) as client:
        steps = await client.call_tool("investigate", {"question": "why?", "max_steps": 99})
        effort = await client.call_tool("reason", {"prompt": "hi", "effort": "medium"})
        query = await client.call_tool("web_search", {"query": "secret words " * 20})
    assert _text(steps) == ("Error executing tool investigate: `max_steps` is 99; pass a whole number from 1 to 50.")
    assert _text(effort).endswith('`effort` is the text "medium"; pass one of low, high, max.')
    assert "`query` is 260 characters long; pass text of at most 128 characters" in _text(query)
    assert "secret words" not in _text(query)


@pytest.mark.parametrize(("tool", "name"), [("chat", "prompt"), ("reason", "prompt"), ("investigate", "question")])
async def test_a_blank_prompt_or_question_is_refused_and_nothing_is_sent(
    tool: str, name: str, deepseek: FakeUpstream
) -> None:
    async with connect(make_settings(deepseek)) as client:
        result = await client.call_tool(tool, {name: BLANK})
    assert result.is_error
    assert f"`{name}` is only whitespace, so there is nothing to ask; pass text" in _text(result)
    assert deepseek.requests == []
