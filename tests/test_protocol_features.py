"""Protocol features next to the tools: argument completion, logging/setLevel, and retry notices."""

from __future__ import annotations

import threading
import warnings
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp import MCPDeprecationWarning
from mcp.shared.exceptions import MCPError
from mcp.types import INVALID_PARAMS, LoggingMessageNotificationParams, PromptReference

from mcp_server.serving import protocol
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


@pytest.mark.parametrize(("name", "arguments"), [("nope", {}), ("second_opinion", {})])
async def test_a_bad_prompt_request_is_an_invalid_params_error(
    deepseek: FakeUpstream, mode: str, name: str, arguments: dict[str, str]
) -> None:
    async with connect(make_settings(deepseek), mode) as client:
        with pytest.raises(MCPError) as caught:
            await client.get_prompt(name, arguments)
        still = await client.list_prompts()
    assert caught.value.error.code == INVALID_PARAMS and still.prompts


async def test_the_server_promises_no_list_changes_it_never_makes(deepseek: FakeUpstream, mode: str) -> None:
    async with connect(make_settings(deepseek), mode) as client:
        capabilities = client.server_capabilities
    assert capabilities is not None and capabilities.tools is not None
    assert not capabilities.tools.list_changed
    assert capabilities.prompts is not None and not capabilities.prompts.list_changed


async def test_a_folder_that_hangs_while_listed_for_completion_does_not_stop_the_server(
    deepseek: FakeUpstream, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_scandir = protocol.os.scandir
    release, finished = threading.Event(), threading.Event()

    def hung_scandir(path: Any) -> Any:  # a network or FUSE folder that does not answer
        release.wait(3)
        finished.set()
        return real_scandir(path)

    monkeypatch.setattr(protocol.os, "scandir", hung_scandir)
    monkeypatch.setattr(protocol, "LISTING_SECONDS", 0.3, raising=False)
    monkeypatch.chdir(tmp_path)
    ref = PromptReference(type="ref/prompt", name="document_to_markdown")
    async with connect(make_settings(deepseek)) as client, anyio.create_task_group() as tg:
        listed: list[Any] = []

        async def complete() -> None:
            listed.append(await client.complete(ref, {"name": "source", "value": "sc"}))

        tg.start_soon(complete)
        with anyio.fail_after(10):
            tools = await client.list_tools()  # served while the listing hangs
            served_during_hang = not finished.is_set()
    release.set()
    assert served_during_hang and tools.tools
    assert listed[0].completion.values == []  # given up after LISTING_SECONDS
