"""The loop on its own, as another tool reuses it (`review`, a checker): its own functions, its own handler, its
own system prompt, against the fake's scripted model."""

from __future__ import annotations

from pathlib import Path

import pytest

from mcp_server.agent import READ_ONLY, Function, Loop, Outcome, Task, Workspace, read_only, with_functions
from mcp_server.core.config import Limits
from mcp_server.policy import FileAccess, Scanner, home, secret_places
from mcp_server.serving.progress import Heartbeats, ProgressReporter
from mcp_server.upstream.client import UpstreamClient
from mcp_server.upstream.completion import ToolCall
from mcp_server.upstream.providers import Router
from tests.conftest import make_settings
from tests.fake.agent import Call, Script, Turn
from tests.fake_upstream import FakeUpstream

pytestmark = pytest.mark.anyio
VERDICT = Function(
    "verdict",
    "Give the verdict.",
    {"type": "object", "properties": {"holds": {"type": "boolean"}}, "required": ["holds"]},
)


async def _quiet(progress: float, total: float | None, message: str | None) -> None:
    return None


async def _run(fake: FakeUpstream, task: Task, system: str) -> tuple[list[dict[str, object]], str]:
    settings = make_settings(fake)
    upstream = UpstreamClient(settings)
    try:
        route = Router(settings).route("reason")
        loop = Loop(upstream, route, ProgressReporter(_quiet, Heartbeats()), effort="low", budget=100_000)
        messages: list[dict[str, object]] = [{"role": "system", "content": system}, {"role": "user", "content": "q"}]
        run = await loop.run(messages, task)
    finally:
        await upstream.aclose()
    return messages, run.answer


async def test_a_checker_offers_only_its_verdict_and_its_handler_gets_the_call(deepseek: FakeUpstream) -> None:
    seen: list[ToolCall] = []

    async def verdict(call: ToolCall) -> Outcome:
        seen.append(call)
        return Outcome("recorded", "holds")

    async def nothing_else(call: ToolCall) -> Outcome:
        return Outcome(f"Refused: no function {call.name}.", "refused", refused=True)

    deepseek.agent = Script([Turn([Call("verdict", {"holds": True}), Call("read_file", {"path": "x"})])], final="ok")
    task = Task((VERDICT,), with_functions(nothing_else, {"verdict": verdict}), max_steps=4)
    messages, answer = await _run(deepseek, task, "You check one claim.")
    sent = deepseek.chat_requests()[0].json
    assert [t["function"]["name"] for t in sent["tools"]] == ["verdict"] and sent["reasoning_effort"] == "low"
    assert sent["messages"][0] == {"role": "system", "content": "You check one claim."}
    assert [c.arguments for c in seen] == ['{"holds": true}'] and answer == "ok"
    assert messages[-1]["content"] == "Refused: no function read_file."  # every id answered, in order


@pytest.fixture
def workspace(tmp_path: Path) -> Workspace:
    (tmp_path / "a.py").write_text("x = 1\n")
    return Workspace(tmp_path.resolve(), FileAccess(None, False), Limits(), Scanner.of(()), secret_places(home()))


async def test_extra_functions_sit_beside_the_read_only_ones(deepseek: FakeUpstream, workspace: Workspace) -> None:
    findings: list[str] = []

    async def report(call: ToolCall) -> Outcome:
        findings.append(call.arguments)
        return Outcome("noted", "noted")

    finding = Function("report_finding", "Report one finding.", {"type": "object", "properties": {}})
    deepseek.agent = Script([Turn([Call("read_file", {"path": "a.py"}), Call("report_finding", {"line": 1})])])
    task = Task((*READ_ONLY, finding), with_functions(read_only(workspace), {"report_finding": report}), 8)
    messages, _ = await _run(deepseek, task, "You review code.")
    assert messages[-2]["content"] == "a.py: lines 1-1 of 1\n1\tx = 1" and findings == ['{"line": 1}']
