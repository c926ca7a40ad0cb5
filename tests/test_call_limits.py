"""Bounds on one call as a whole (issue 17): a total deadline (DEEPSEEK_MCP_MAX_CALL_SECONDS) that frees the call's
upstream connection whatever it waits for, and settings for it checked like every other limit."""

from __future__ import annotations

import anyio
import pytest
from mcp.types import TextContent

from mcp_server.config import Settings
from mcp_server.errors import ConfigError
from tests.conftest import connect, make_settings
from tests.fake_upstream import FakeUpstream, Reply

pytestmark = pytest.mark.anyio

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
