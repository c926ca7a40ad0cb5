"""`investigate` through the in-memory client against the fake upstream's scripted model (tests/fake/agent.py)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import anyio
import pytest

from tests.agent_project import AWS_KEY, INJECTION, MARKERS, make_agent_project
from tests.conftest import connect, make_settings
from tests.fake.agent import Call, Script, Turn
from tests.fake_upstream import FakeUpstream

pytestmark = pytest.mark.anyio


@pytest.fixture
def project(tmp_path: Path) -> Path:
    return make_agent_project(tmp_path)


def _steps(result: Any) -> list[dict[str, Any]]:
    return list(result.structured_content["steps"])


def _sent(fake: FakeUpstream) -> bytes:
    return b"".join(r.body for r in fake.chat_requests())


def _tool_results(fake: FakeUpstream) -> list[str]:
    last = fake.chat_requests()[-1].json["messages"]
    return [m["content"] for m in last if m["role"] == "tool"]


async def test_a_model_reaching_for_secrets_and_outside_paths_is_refused_and_none_of_those_bytes_reach_upstream(
    deepseek: FakeUpstream, project: Path, mode: str
) -> None:
    reads = [".env", "src/settings.py", "../outside.txt", "/etc/passwd", "link_out.txt", "linked_dir/notes.txt"]
    reads += ["node_modules/left-pad/index.js", "generated/models.py", "notes/todo.txt", "~/.ssh/id_rsa"]
    deepseek.agent = Script(
        [
            Turn([Call("read_file", {"path": path}) for path in reads]),
            Turn([Call("grep", {"pattern": "hunter2|PRIVATE|AKIA|OUTSIDE|GITIGNORED|exports"})]),
            Turn([Call("read_file", {"path": "README.md"})]),
            Turn([Call("read_file", {"path": "~/.ssh/id_rsa"}), Call("read_file", {"path": ".env"})]),
            Turn([Call("list_dir", {"path": ""}), Call("glob", {"pattern": "**/*"})]),
        ],
        final="Nothing secret was readable.",
    )
    async with connect(make_settings(deepseek), mode) as client:
        result = await client.call_tool("investigate", {"question": "what secrets are here?", "paths": [str(project)]})
    assert not result.is_error, result.content
    outcomes = [s["outcome"] for s in _steps(result)]
    assert all(o.startswith("refused") for o in outcomes[: len(reads)]), outcomes
    assert "named like a secret" in outcomes[0] and "an AWS access key" in outcomes[1]
    assert "`..` is not allowed" in outcomes[2] and "absolute paths" in outcomes[3]
    assert "symlink out of the folder" in outcomes[4] and "linked_dir is skipped (a symlink out" in outcomes[5]
    assert "vendored" in outcomes[6] and "gitignored" in outcomes[7] and "private key" in outcomes[8]
    sent = _sent(deepseek)
    assert INJECTION.encode() in sent  # the file was read, as data
    assert not [m for m in MARKERS if m.encode() in sent], [m for m in MARKERS if m.encode() in sent]
    grep = json.loads(deepseek.chat_requests()[2].body)["messages"][-1]["content"]
    assert grep.startswith("0 matching lines") and "holding secrets" in grep
    listing = _tool_results(deepseek)[-2]
    assert ".env (skipped: named like a secret)" in listing and "node_modules/ (skipped: a vendored" in listing


async def test_parallel_calls_are_each_answered_by_one_tool_message_in_order(
    deepseek: FakeUpstream, project: Path
) -> None:
    calls = [
        Call("read_file", {"path": "src/app.py"}),
        Call("grep", {"pattern": "return"}),
        Call("list_dir", {"path": "src"}),
    ]
    deepseek.agent = Script([Turn(calls)], final="src/app.py:2 returns 42.")
    async with connect(make_settings(deepseek)) as client:
        result = await client.call_tool("investigate", {"question": "what is returned?", "paths": [str(project)]})
    assert not result.is_error, result.content
    second = deepseek.chat_requests()[1].json["messages"]
    assistant = second[-4]
    ids = [c["id"] for c in assistant["tool_calls"]]
    assert [m["tool_call_id"] for m in second[-3:]] == ids and len(set(ids)) == 3
    assert [c["function"]["name"] for c in assistant["tool_calls"]] == ["read_file", "grep", "list_dir"]
    assert json.loads(assistant["tool_calls"][0]["function"]["arguments"]) == {"path": "src/app.py"}
    assert assistant["reasoning_content"] == "Let me look."
    assert second[-3]["content"].startswith("src/app.py: lines 1-2 of 2\n1\tdef main() -> int:\n2\t    return 42")
    assert [s["name"] for s in _steps(result)] == ["read_file", "grep", "list_dir"]


async def test_citations_are_checked_on_disk_and_one_that_points_nowhere_is_flagged(
    deepseek: FakeUpstream, project: Path
) -> None:
    answer = "main is at src/app.py:1-2, helper at src/util.py:1; also src/app.py:40 and .env:1 and src/settings.py:2."
    reads = [Call("read_file", {"path": "src/app.py"}), Call("grep", {"pattern": "def "})]
    deepseek.agent = Script([Turn(reads)], final=answer)
    async with connect(make_settings(deepseek)) as client:
        result = await client.call_tool("investigate", {"question": "where is main?", "paths": [str(project)]})
    out = result.structured_content
    assert out is not None
    evidence = {f"{e['path']}:{e['start_line']}": e for e in out["evidence"]}
    assert (
        evidence["src/app.py:1"]["verified"]
        and evidence["src/app.py:1"]["quote"] == "def main() -> int:\n    return 42"
    )
    assert evidence["src/util.py:1"]["quote"] == "def helper(name: str) -> str:"
    assert not evidence["src/app.py:40"]["verified"] and evidence["src/app.py:40"]["quote"] == ""
    assert evidence["src/app.py:40"]["check"] == "no such lines"
    assert not evidence[".env:1"]["verified"] and not evidence["src/settings.py:2"]["verified"]
    assert evidence[".env:1"]["check"].startswith("unreadable: '.env' is refused: named like a secret")
    assert AWS_KEY not in json.dumps(out)
    assert any("3 of 5 citations are not verified" in n and "src/app.py:40 (no such lines" in n for n in out["notices"])


async def test_a_model_that_never_stops_is_asked_once_more_without_tools_at_max_steps(
    deepseek: FakeUpstream, project: Path
) -> None:
    deepseek.agent = Script([Turn([Call("grep", {"pattern": "x"}), Call("glob", {"pattern": "*.py"})])], repeat=True)
    deepseek.agent.final = "Best answer: src/app.py:2."
    progress: list[str] = []

    async def on_progress(done: float, total: float | None, message: str | None) -> None:
        if "waiting for the model" not in (message or ""):  # a heartbeat, should a turn take seconds
            progress.append(message or "")

    async with connect(make_settings(deepseek)) as client:
        with anyio.fail_after(20):
            result = await client.call_tool(
                "investigate",
                {"question": "loop", "paths": [str(project)], "max_steps": 3},
                progress_callback=on_progress,
            )
    out = result.structured_content
    assert out is not None and out["answer"] == "Best answer: src/app.py:2."
    assert len(out["steps"]) == 3 and deepseek.agent.played == ["calls", "calls", "final"]
    last = deepseek.chat_requests()[-1].json
    assert (
        last["tool_choice"] == "none" and last["tools"] and "Stop calling functions" in last["messages"][-1]["content"]
    )
    assert last["messages"][-2]["content"].startswith("Refused: the step limit (max_steps=3)")
    assert any("max_steps (3 function calls)" in n for n in out["notices"])
    assert progress[1] == "investigate: step 2: grep 'x' — 1 match; glob '*.py' — not run", progress
    assert len(progress) == 3 and progress[2].startswith("investigate: answered after 3 function calls in 3 turns")


async def test_cancelling_stops_the_loop_and_no_model_turn_follows(deepseek: FakeUpstream, project: Path) -> None:
    deepseek.agent = Script(
        [Turn([Call("grep", {"pattern": "def"})]), Turn([Call("grep", {"pattern": "x"})], latency=30)]
    )
    async with connect(make_settings(deepseek)) as client:
        with anyio.move_on_after(10) as scope:
            async with anyio.create_task_group() as tg:
                tg.start_soon(client.call_tool, "investigate", {"question": "q", "paths": [str(project)]})
                await anyio.to_thread.run_sync(lambda: deepseek.wait_for(lambda f: len(f.chat_requests()) == 2, 5))
                tg.cancel_scope.cancel()
        assert not scope.cancelled_caught
        assert await anyio.to_thread.run_sync(
            lambda: deepseek.wait_for(lambda f: f.chat_requests()[1].client_disconnected, 3)
        )
        assert not await anyio.to_thread.run_sync(lambda: deepseek.wait_for(lambda f: len(f.chat_requests()) > 2, 0.5))
    assert len(deepseek.chat_requests()) == 2


async def test_a_follow_up_continues_with_what_was_read_and_every_reasoning_content_sent_back(
    deepseek: FakeUpstream, project: Path
) -> None:
    async with connect(make_settings(deepseek)) as client:
        first = await client.call_tool("reason", {"prompt": "hello"})
        conversation = first.structured_content["conversation_id"]  # type: ignore[index]
        deepseek.agent = Script([Turn([Call("read_file", {"path": "src/app.py"})])], final="src/app.py:2 returns 42.")
        second = await client.call_tool(
            "investigate", {"question": "what returns?", "paths": [str(project)], "conversation_id": conversation}
        )
        deepseek.agent = Script([Turn([Call("read_file", {"path": "src/util.py"})])], final="src/util.py:5 greets.")
        third = await client.call_tool(
            "investigate", {"question": "and util?", "paths": [str(project)], "conversation_id": conversation}
        )
    assert not second.is_error and not third.is_error, (second.content, third.content)
    last = deepseek.chat_requests()[-1].json["messages"]
    assert [m["role"] for m in last] == [
        "system", "user", "assistant", "user", "assistant", "tool", "assistant", "user", "assistant", "tool"
    ]  # fmt: skip
    assert last[2]["reasoning_content"] == "Thinking about: hello"  # the earlier reason turn, sent back
    assert "return 42" in last[5]["content"] and last[6]["content"] == "src/app.py:2 returns 42."
    assert all("reasoning_content" in m for m in last if m["role"] == "assistant")
    assert third.structured_content["usage"]["cache_hit_tokens"] > 0  # type: ignore[index]


async def test_a_model_that_cannot_call_functions_gets_an_error_naming_one_that_can(
    atlas: FakeUpstream, project: Path
) -> None:
    async with connect(make_settings(atlas=atlas)) as client:
        result = await client.call_tool(
            "investigate", {"question": "q", "paths": [str(project)], "model": "deepseek-ai/deepseek-ocr"}
        )
    text = result.content[0].text  # type: ignore[union-attr]
    assert result.is_error and "cannot call functions" in text and "deepseek-ai/deepseek-v4-flash" in text
    assert atlas.chat_requests() == []


async def test_self_hosted_deepseek_v3_1_runs_the_loop_with_thinking_off(atlas: FakeUpstream, project: Path) -> None:
    atlas.agent = Script([Turn([Call("read_file", {"path": "src/app.py"})])], final="src/app.py:1 defines main.")
    env = {"DEEPSEEK_MCP_OPENAI_BASE_URL": atlas.base_url, "DEEPSEEK_MCP_OPENAI_API_KEY": atlas.api_key}
    env["DEEPSEEK_MCP_OPENAI_MODEL"] = "deepseek-ai/deepseek-v4-flash"
    async with connect(make_settings(env=env)) as client:
        result = await client.call_tool("investigate", {"question": "q", "paths": [str(project)]})
    assert not result.is_error, result.content
    requests = [r.json for r in atlas.chat_requests()]
    assert all(r["chat_template_kwargs"]["thinking"] is False and r["tools"] for r in requests)
    assert all("reasoning_content" not in m for r in requests for m in r["messages"])
    assert result.structured_content["evidence"][0]["verified"]  # type: ignore[index]


async def test_investigate_without_paths_reads_the_working_directory(
    deepseek: FakeUpstream, project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(project)
    deepseek.agent = Script([Turn([Call("list_dir", {"path": ""})])], final="See src/app.py:1.")
    async with connect(make_settings(deepseek)) as client:
        result = await client.call_tool("investigate", {"question": "q"})
    assert not result.is_error and "src/" in _tool_results(deepseek)[0].splitlines()


async def test_a_thinking_turn_cut_at_length_with_nothing_said_gets_a_notice_not_a_crash(
    deepseek: FakeUpstream, project: Path
) -> None:
    deepseek.agent = Script([Turn(content="", reasoning="long thought " * 50, finish_reason="length")])
    async with connect(make_settings(deepseek)) as client:
        result = await client.call_tool("investigate", {"question": "q", "paths": [str(project)]})
    out = result.structured_content
    assert not result.is_error and out is not None and out["answer"] == "" and out["steps"] == []
    assert any("ran out of output tokens (finish_reason=length) before it answered" in n for n in out["notices"])
    assert any("not added to the conversation" in n for n in out["notices"])


async def test_a_huge_or_broken_arguments_string_is_refused_and_kept_short_in_the_steps(
    deepseek: FakeUpstream, project: Path
) -> None:
    deepseek.agent = Script(
        [Turn([Call("read_file", "{not json"), Call("grep", '{"pattern": "' + "a" * 100_000 + '"}')])]
    )
    async with connect(make_settings(deepseek)) as client:
        result = await client.call_tool("investigate", {"question": "q", "paths": [str(project)]})
    steps = _steps(result)
    assert steps[0]["arguments"] == {"unparsed": "{not json"} and "not valid JSON" in steps[0]["outcome"]
    assert len(json.dumps(steps[1]["arguments"])) < 600 and "at most 512" in steps[1]["outcome"]


async def test_near_the_context_budget_further_calls_are_not_run_and_the_model_answers(
    deepseek: FakeUpstream, project: Path
) -> None:
    (project / "src/big.py").write_text("".join(f"value_{n} = {n}  # {'x' * 50}\n" for n in range(900)))
    calls = [Call("read_file", {"path": "src/big.py"}), Call("read_file", {"path": "src/app.py"})]
    deepseek.agent = Script([Turn(calls)], final="It is big: src/big.py:1.")
    settings = make_settings(deepseek, env={"DEEPSEEK_MCP_MAX_CONTEXT_TOKENS": "12000"})
    async with connect(settings) as client:
        result = await client.call_tool("investigate", {"question": "q", "paths": [str(project)]})
    out = result.structured_content
    assert out is not None and out["answer"] == "It is big: src/big.py:1."
    assert out["steps"][0]["outcome"].startswith("lines 1-")
    assert len(out["steps"]) == 1 and _tool_results(deepseek)[1].startswith("Refused: the context budget")
    assert any("DEEPSEEK_MCP_MAX_CONTEXT_TOKENS=12,000" in n for n in out["notices"])
    assert deepseek.chat_requests()[-1].json["tool_choice"] == "none"


async def test_chat_can_follow_an_investigation_in_the_same_conversation(deepseek: FakeUpstream, project: Path) -> None:
    deepseek.agent = Script([Turn([Call("read_file", {"path": "src/app.py"})])], final="src/app.py:2 returns 42.")
    async with connect(make_settings(deepseek)) as client:
        first = await client.call_tool("investigate", {"question": "what returns?", "paths": [str(project)]})
        conversation = first.structured_content["conversation_id"]  # type: ignore[index]
        second = await client.call_tool("chat", {"prompt": "say it shorter", "conversation_id": conversation})
    assert not second.is_error, second.content
    sent = deepseek.chat_requests()[-1].json
    assert [m["role"] for m in sent["messages"]] == ["system", "user", "assistant", "tool", "assistant", "user"]
    assert "return 42" in sent["messages"][3]["content"]


async def test_a_loop_that_would_pass_the_per_call_cost_limit_stops_for_its_best_answer_and_its_turns_are_recorded(
    deepseek: FakeUpstream, project: Path
) -> None:
    from mcp_server.spending.budgets import THINKING_OUTPUT_ESTIMATE
    from mcp_server.spending.pricing import estimate as price_of
    from mcp_server.upstream.completion import Usage

    # One turn's estimate is mostly its assumed output: the limit lets one turn through, not a second and a final.
    turn = price_of("deepseek", "deepseek-flash", Usage(completion_tokens=THINKING_OUTPUT_ESTIMATE))
    assert turn is not None
    limit = 1.5 * turn.usd
    deepseek.agent = Script([Turn([Call("grep", {"pattern": "x"})])], repeat=True)
    deepseek.agent.final = "Best so far: src/app.py:2."
    settings = make_settings(deepseek, env={"DEEPSEEK_MCP_MAX_COST_PER_CALL": repr(limit)})
    async with connect(settings) as client:
        with anyio.fail_after(20):
            result = await client.call_tool("investigate", {"question": "loop", "paths": [str(project)]})
            balance = await client.call_tool("balance", {})
    out = result.structured_content
    assert out is not None and not result.is_error and out["answer"] == "Best so far: src/app.py:2."
    assert deepseek.agent.played == ["calls", "final"] and len(out["steps"]) == 1
    assert any("per-call cost limit (DEEPSEEK_MCP_MAX_COST_PER_CALL" in n for n in out["notices"])
    assert "investigate" in json.dumps(balance.structured_content)
