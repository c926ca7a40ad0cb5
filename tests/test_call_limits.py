"""Bounds on one call as a whole (issue 17): a total deadline (DEEPSEEK_MCP_MAX_CALL_SECONDS) that frees the call's
upstream connection whatever it waits for, settings for it checked like every other limit, and a share of the
worker threads per caller for blocking file work."""

from __future__ import annotations

import importlib
import threading
from pathlib import Path
from typing import Any

import anyio
import anyio.to_thread
import pytest
from mcp.types import TextContent

from mcp_server.core.config import Settings
from mcp_server.core.errors import ConfigError
from mcp_server.serving.app import THREADS_PER_OWNER
from tests.conftest import connect, make_settings
from tests.fake_upstream import FakeUpstream, Reply

pytestmark = pytest.mark.anyio

# The module, not the function of the same name that mcp_server.context re-exports.
gather_module = importlib.import_module("mcp_server.context.gather")

FOREVER = Reply(keepalives=1_000_000, keepalive_interval=0.05)  # `: keep-alive` every 50 ms, for about 14 hours


def _text(result: object) -> str:
    return "\n".join(b.text for b in getattr(result, "content", []) if isinstance(b, TextContent))


async def test_an_upstream_sending_keep_alives_forever_is_stopped_at_the_call_deadline_and_frees_its_slot(
    deepseek: FakeUpstream,
) -> None:
    env = {"DEEPSEEK_MCP_MAX_CALL_SECONDS": "0.5", "DEEPSEEK_MCP_MAX_CONCURRENCY": "1"}
    deepseek.script(FOREVER)
    async with connect(make_settings(deepseek, env=env)) as client:
        with anyio.fail_after(10):
            stuck = await client.call_tool("chat", {"prompt": "think forever"})
        assert deepseek.wait_for(lambda fake: fake.open_connections == 0)  # the connection was closed
        with anyio.fail_after(10):
            after = await client.call_tool("chat", {"prompt": "still there?"})  # the one upstream slot is free
    assert (
        stuck.is_error and "took longer than 0.5 s" in _text(stuck) and "DEEPSEEK_MCP_MAX_CALL_SECONDS" in _text(stuck)
    )
    assert deepseek.chat_requests()[0].client_disconnected
    assert not after.is_error and "still there?" in _text(after)


@pytest.mark.parametrize("value", ["0", "-5", "nan", "inf", "soon"])
def test_a_call_deadline_that_is_not_a_positive_number_of_seconds_stops_the_server(value: str) -> None:
    with pytest.raises(ConfigError, match="DEEPSEEK_MCP_MAX_CALL_SECONDS"):
        Settings.from_env({"DEEPSEEK_MCP_MAX_CALL_SECONDS": value})


def test_the_call_deadline_and_request_limit_default_to_half_an_hour_and_50_mib() -> None:
    limits = Settings.from_env({}).limits
    assert (limits.call_seconds, limits.request_bytes) == (1800.0, 50 * 2**20)
    with pytest.raises(ConfigError, match="DEEPSEEK_MCP_MAX_REQUEST_BYTES"):
        Settings.from_env({"DEEPSEEK_MCP_MAX_REQUEST_BYTES": "1000"})


async def test_one_callers_file_reads_hold_at_most_eight_of_the_shared_worker_threads(
    deepseek: FakeUpstream, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "a.py").write_text("print('hi')\n")
    real_gather = gather_module.gather
    release, eight = threading.Event(), threading.Event()
    lock = threading.Lock()
    running, most = 0, 0

    def hung_gather(paths: Any, job: Any) -> Any:  # a network file system that does not answer, until released
        nonlocal running, most
        with lock:
            running += 1
            most = max(most, running)
            if running >= THREADS_PER_OWNER:
                eight.set()
        release.wait(10)
        with lock:
            running -= 1
        return real_gather(paths, job)

    monkeypatch.setattr(gather_module, "gather", hung_gather)
    async with connect(make_settings(deepseek)) as client:
        results: list[Any] = []

        async def call(number: int) -> None:
            results.append(await client.call_tool("chat", {"prompt": f"call {number}", "files": [str(tmp_path)]}))

        with anyio.fail_after(20):
            async with anyio.create_task_group() as tg:
                for number in range(12):
                    tg.start_soon(call, number)
                assert await anyio.to_thread.run_sync(eight.wait, 10)
                await anyio.wait_all_tasks_blocked()  # every call is now in a thread or waiting for one
                held = running
                release.set()
    assert held == most == THREADS_PER_OWNER == 8
    assert len(results) == 12 and not any(r.is_error for r in results)
