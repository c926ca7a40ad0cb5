"""The redaction oracle (issue 24), through the real tools: a caller that gets its own text echoed, and sees what the
server redacted in it, learns no character of a key beyond the prefix its format makes public (the attack is in
tests/oracle.py; its 10,000-call run is in tests/reliability/test_redaction_oracle.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio
import pytest
from mcp import Client

from mcp_server.policy.redaction import Redactor
from mcp_server.server import build_server
from tests.conftest import make_settings
from tests.fake_upstream import FakeUpstream
from tests.oracle import ATLAS_KEY, CHANNELS, DEEPSEEK_KEY, HEX, PREFIXES, Attacker, Channel

pytestmark = pytest.mark.anyio


@asynccontextmanager
async def _served() -> AsyncIterator[tuple[Client, FakeUpstream, Redactor]]:
    with FakeUpstream("deepseek", api_key=DEEPSEEK_KEY) as deepseek, FakeUpstream("atlas", api_key=ATLAS_KEY) as atlas:
        server = build_server(make_settings(deepseek, atlas))
        async with Client(server) as client:  # type: ignore[arg-type]
            yield client, deepseek, server.redact  # type: ignore[attr-defined]


@pytest.mark.parametrize("channel", CHANNELS, ids=lambda c: c.name)
async def test_each_echo_channel_through_its_tool_gives_exactly_what_its_in_process_path_gives(
    channel: Channel,
) -> None:
    probes = ("plain words", f"sk-{DEEPSEEK_KEY[3:18]}", f"apikey-{ATLAS_KEY[7:23]} x", f"key {DEEPSEEK_KEY[5:30]}")
    async with _served() as (client, fake, server):
        for probe in probes:
            with anyio.fail_after(30):
                seen = await channel.through_tool(client, fake, probe)
            assert seen == channel.in_process(server, Redactor((DEEPSEEK_KEY, ATLAS_KEY)), probe), probe
        assert DEEPSEEK_KEY[5:30] not in seen and "[redacted]" in seen  # the last probe holds a run of the body


@pytest.mark.parametrize("channel", CHANNELS, ids=lambda c: c.name)
async def test_guessing_through_the_real_tool_learns_no_character_beyond_the_public_prefix(channel: Channel) -> None:
    nothing = Redactor(())  # a server holding no key: what the shapes alone do to the same text
    async with _served() as (client, fake, _):
        for key, prefix in PREFIXES.items():

            async def echo(text: str) -> str:
                with anyio.fail_after(30):
                    return await channel.through_tool(client, fake, text)

            attacker = Attacker(echo, lambda text: channel.in_process(nothing, nothing, text), channel.room, 30)
            assert await attacker.run(prefix, HEX) == prefix and not attacker.grown, (key, attacker.grown[:3])
