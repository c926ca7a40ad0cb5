"""Protocol features next to the tools: argument completion, logging/setLevel, and retry notices."""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest
from mcp import MCPDeprecationWarning
from mcp.types import LoggingMessageNotificationParams, PromptReference

from tests.conftest import connect, make_settings
from tests.fake_upstream import FakeUpstream, Reply

pytestmark = pytest.mark.anyio


async def test_prompt_arguments_complete_focus_areas_and_document_paths(
    deepseek: FakeUpstream, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, mode: str
) -> None:
    (tmp_path / "scans").mkdir()
    for name in ("scan-1.png", "scan-2.pdf", "notes.txt", "summary.jpg"):
        (tmp_path / "scans" / name).write_bytes(b"x")
    monkeypatch.chdir(tmp_path)
    async with connect(make_settings(deepseek), mode) as client:
        focus = await client.complete(
            PromptReference(type="ref/prompt", name="second_opinion"), {"name": "focus", "value": "co"}
        )
        paths = await client.complete(
            PromptReference(type="ref/prompt", name="document_to_markdown"), {"name": "source", "value": "scans/s"}
        )
        unknown = await client.complete(PromptReference(type="ref/prompt", name="nope"), {"name": "x", "value": ""})
    assert focus.completion.values == ["correctness", "concurrency"]
    assert paths.completion.values == ["scans/scan-1.png", "scans/scan-2.pdf", "scans/summary.jpg"]
    assert unknown.completion.values == []


async def test_a_retry_is_announced_in_progress_and_as_a_warning_to_clients_that_set_a_log_level(
    deepseek: FakeUpstream,
) -> None:
    deepseek.script(Reply(status=503, error="overloaded", headers={"Retry-After": "0"}))
    messages: list[str | None] = []
    logs: list[LoggingMessageNotificationParams] = []

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        messages.append(message)

    async def on_log(params: LoggingMessageNotificationParams) -> None:
        logs.append(params)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", MCPDeprecationWarning)  # logging is deprecated in 2026-07-28, not in 2025
        async with connect(make_settings(deepseek), "legacy", logging_callback=on_log) as client:
            await client.set_logging_level("info")
            result = await client.call_tool("chat", {"prompt": "hi"}, progress_callback=on_progress)
    assert not result.is_error and len(deepseek.chat_requests()) == 2
    assert any(m and "attempt 1 of 4 failed (HTTP 503)" in m for m in messages)
    assert logs and logs[0].level == "warning" and "HTTP 503" in str(logs[0].data)
