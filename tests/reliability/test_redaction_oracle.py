"""The redaction oracle (issue 24) at full strength: the prefix-extension attack of tests/oracle.py, 10,000 calls
per key and per echo channel, driven in process through each channel's path with the server's own redactor
(tests/test_redaction_oracle.py checks that path against the real tool), learns no character beyond `sk-` or
`apikey-`. The control shows the attacker is a real one: against the redactor that replaced every 8 characters of
a key, it recovers both keys well within the same budget."""

from __future__ import annotations

import re

import pytest

from mcp_server.policy.redaction import Redactor
from mcp_server.server import build_server
from tests.conftest import make_settings
from tests.oracle import ATLAS_KEY, CHANNELS, DEEPSEEK_KEY, HEX, PREFIXES, Attacker, Channel, in_process

pytestmark = [pytest.mark.reliability, pytest.mark.anyio]
CALLS = 10_000


@pytest.mark.parametrize("channel", CHANNELS, ids=lambda c: c.name)
async def test_the_prefix_extension_attack_learns_no_character_beyond_the_public_prefix_in_ten_thousand_calls(
    channel: Channel,
) -> None:
    server = build_server(make_settings(env={"DEEPSEEK_API_KEY": DEEPSEEK_KEY, "ATLASCLOUD_API_KEY": ATLAS_KEY}))
    redact: Redactor = server.redact  # type: ignore[attr-defined]  # what every result and tool error passes
    client = Redactor((DEEPSEEK_KEY, ATLAS_KEY))  # as the upstream client builds it from the same settings
    nothing = Redactor(())  # a server holding no key: what the shapes alone do to the same text
    for key, prefix in PREFIXES.items():
        attacker = Attacker(
            in_process(lambda text: channel.in_process(redact, client, text)),
            lambda text: channel.in_process(nothing, nothing, text),
            channel.room,
            CALLS,
        )
        assert await attacker.run(prefix, HEX) == prefix and not attacker.grown, (key, attacker.grown[:3])
        assert attacker.left == 0


async def test_the_same_attack_recovers_both_keys_from_a_redactor_of_every_eight_characters() -> None:
    grams = sorted({key[i : i + 8] for key in PREFIXES for i in range(len(key) - 7)})
    eights = re.compile("|".join(map(re.escape, grams)))
    for key, prefix in PREFIXES.items():
        attacker = Attacker(
            in_process(lambda text: eights.sub("[redacted]", f"# Page\n\n{text}")),
            lambda text: f"# Page\n\n{text}",
            4096,
            CALLS,
        )
        assert await attacker.run(prefix, HEX) == key
        calls, known = attacker.grown[-1]
        assert known == key and calls < CALLS, (key, calls)
