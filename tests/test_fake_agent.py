"""The fake upstream's scripted model (tests/fake/agent.py): DeepSeek's tool-call rules answered with 400 where
DeepSeek answers 400, and tool calls streamed as DeepSeek streams them, which the client assembles by index."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx2
import pytest

from mcp_server.upstream.completion import Accumulator, ToolCall
from tests.fake.agent import Call, Script, Turn
from tests.fake_upstream import FakeUpstream

TOOLS = [{"type": "function", "function": {"name": "grep", "parameters": {"type": "object", "properties": {}}}}]
CALL = {"id": "call_00_a", "type": "function", "function": {"name": "grep", "arguments": "{}"}}
QUESTION = {"role": "user", "content": "find it"}


@pytest.fixture
def fake() -> Iterator[FakeUpstream]:
    with FakeUpstream("deepseek") as upstream:
        yield upstream


def _post(fake: FakeUpstream, body: dict[str, Any], path: str = "/chat/completions") -> httpx2.Response:
    headers = {"Authorization": f"Bearer {fake.api_key}"}
    return httpx2.post(f"{fake.base_url}{path}", json={"model": "deepseek-flash", **body}, headers=headers, timeout=5)


def _message(response: httpx2.Response) -> str:
    assert response.status_code == 400, response.text
    return str(response.json()["error"]["message"])


def test_thinking_with_tools_and_an_assistant_turn_without_reasoning_content_is_a_400(fake: FakeUpstream) -> None:
    messages = [QUESTION, {"role": "assistant", "content": "earlier"}, {"role": "user", "content": "more"}]
    assert "reasoning_content" in _message(_post(fake, {"messages": messages, "tools": TOOLS}))
    with_it = [QUESTION, {"role": "assistant", "content": "earlier", "reasoning_content": "r"}, messages[2]]
    assert _post(fake, {"messages": with_it, "tools": TOOLS}).status_code == 200
    off = {"messages": messages, "tools": TOOLS, "thinking": {"type": "disabled"}}
    assert _post(fake, off).status_code == 200  # the rule holds in thinking mode only


def test_tool_calls_not_answered_by_one_tool_message_per_id_are_a_400(fake: FakeUpstream) -> None:
    calls = {"role": "assistant", "content": "", "reasoning_content": "r", "tool_calls": [CALL]}
    unanswered = [QUESTION, calls, {"role": "user", "content": "go on"}]
    assert "call_00_a" in _message(_post(fake, {"messages": unanswered, "tools": TOOLS}))
    stray = [QUESTION, {"role": "tool", "tool_call_id": "call_zz", "content": "x"}]
    assert "must be a response to a preceding message" in _message(_post(fake, {"messages": stray, "tools": TOOLS}))
    answered = [QUESTION, calls, {"role": "tool", "tool_call_id": "call_00_a", "content": "0 matches"}]
    assert _post(fake, {"messages": answered, "tools": TOOLS}).status_code == 200


def test_tool_choice_required_in_thinking_mode_and_strict_functions_off_beta_are_a_400(fake: FakeUpstream) -> None:
    assert "thinking mode" in _message(_post(fake, {"messages": [QUESTION], "tools": TOOLS, "tool_choice": "required"}))
    strict = [{"type": "function", "function": {**TOOLS[0]["function"], "strict": True}}]
    assert "/beta" in _message(_post(fake, {"messages": [QUESTION], "tools": strict}))
    assert _post(fake, {"messages": [QUESTION], "tools": strict}, "/beta/chat/completions").status_code == 200
    bad_name = [{"type": "function", "function": {"name": "no spaces", "parameters": {}}}]
    assert "Invalid function name" in _message(_post(fake, {"messages": [QUESTION], "tools": bad_name}))


def test_parallel_calls_stream_interleaved_by_index_and_the_client_assembles_them(fake: FakeUpstream) -> None:
    fake.agent = Script([Turn([Call("grep", {"pattern": "def flush"}), Call("read_file", {"path": "src/app.py"})])])
    body = {"messages": [QUESTION], "tools": TOOLS, "stream": True, "stream_options": {"include_usage": True}}
    response = _post(fake, body)
    events = [json.loads(line[6:]) for line in response.text.splitlines() if line.startswith("data: {")]
    deltas = [d for e in events for c in e["choices"] for d in c["delta"].get("tool_calls") or ()]
    assert [d["index"] for d in deltas[:4]] == [0, 1, 0, 1]  # interleaved
    assert set(deltas[0]) == {"index", "id", "type", "function"} and set(deltas[2]) == {"index", "function"}
    assert any(e["choices"] == [] for e in events) and events[-1]["choices"][0]["finish_reason"] == "tool_calls"
    acc = Accumulator()
    for event in events:
        acc.feed(event)
    calls = acc.result().tool_calls
    assert [(c.name, json.loads(c.arguments)) for c in calls] == [
        ("grep", {"pattern": "def flush"}),
        ("read_file", {"path": "src/app.py"}),
    ]
    assert calls[0].id == deltas[0]["id"] and acc.result().reasoning == "Let me look."


def test_a_whole_body_with_tool_calls_is_read_by_position() -> None:
    acc = Accumulator()
    message = {"role": "assistant", "content": "", "tool_calls": [CALL, {**CALL, "id": "call_01_b"}]}
    acc.feed_full({"choices": [{"message": message, "finish_reason": "tool_calls"}]})
    assert acc.result().tool_calls == (ToolCall("call_00_a", "grep", "{}"), ToolCall("call_01_b", "grep", "{}"))


def test_tool_choice_none_gets_the_final_text_and_no_calls(fake: FakeUpstream) -> None:
    fake.agent = Script([Turn([Call("grep", {"pattern": "x"})])], final="the answer")
    response = _post(fake, {"messages": [QUESTION], "tools": TOOLS, "tool_choice": "none"})
    message = response.json()["choices"][0]["message"]
    assert message["content"] == "the answer" and "tool_calls" not in message and fake.agent.played == ["final"]
