"""A placeholder is not a key: the server starts (so the host shows it connected), every tool answers with the
variable to fix and where, and `doctor` diagnoses it. An unexpanded `${VAR}` gets its own message."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import connect, make_settings
from tests.fake_upstream import FakeUpstream

pytestmark = pytest.mark.anyio
SCRIPT = Path(sys.executable).with_name("deepseek-mcp")
PLACEHOLDERS = ["<your DeepSeek API key>", "sk-...", "YOUR_DEEPSEEK_API_KEY", "paste your key here", "xxxxxxxx"]


def _doctor(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("DEEPSEEK", "ATLASCLOUD"))}
    return subprocess.run(  # noqa: S603 - our own console script
        [str(SCRIPT), "doctor"], env={**base, "DEEPSEEK_MCP_STATE": "memory", **env},
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip


@pytest.mark.parametrize("placeholder", PLACEHOLDERS)
async def test_a_placeholder_key_starts_the_server_and_every_tool_names_it_and_where_to_replace_it(
    placeholder: str, deepseek: FakeUpstream
) -> None:
    env = {"DEEPSEEK_API_KEY": placeholder, "DEEPSEEK_BASE_URL": deepseek.base_url}
    async with connect(make_settings(env=env)) as client:
        tools = [tool.name for tool in (await client.list_tools()).tools]
        results = {name: await client.call_tool(name, {"prompt": "hi"}) for name in tools}
    assert len(tools) >= 10
    for name, result in results.items():
        text = result.content[0].text  # type: ignore[union-attr]
        assert result.is_error, name
        said = f"Error executing tool {name}: DEEPSEEK_API_KEY is still a placeholder (`{placeholder}`), not a key"
        assert text.startswith(said), text
        assert "the host's MCP config (the `env` block of this server)" in text and "pydantic" not in text
    assert deepseek.requests == []


def test_doctor_diagnoses_a_placeholder_instead_of_exiting() -> None:
    done = _doctor({"DEEPSEEK_API_KEY": "<your DeepSeek API key>"})
    assert done.returncode == 1, done.stderr
    lines = [" ".join(line.split()) for line in done.stdout.splitlines()]
    said = "FAIL DEEPSEEK_API_KEY DEEPSEEK_API_KEY is still a placeholder (`<your DeepSeek API key>`), not a key"
    assert any(line.startswith(said) for line in lines), done.stdout
    assert "FAIL providers no key set: replace the placeholder above" in lines


async def test_an_unexpanded_reference_gets_its_own_message_when_it_leaves_no_key_and_stops_nothing_else(
    deepseek: FakeUpstream,
) -> None:
    alone = {"DEEPSEEK_API_KEY": "${env:DEEPSEEK_API_KEY}", "DEEPSEEK_BASE_URL": deepseek.base_url}
    async with connect(make_settings(env=alone)) as client:
        result = await client.call_tool("chat", {"prompt": "hi"})
    text = result.content[0].text  # type: ignore[union-attr]
    assert result.is_error and "No API key is set" not in text
    assert text.startswith("Error executing tool chat: DEEPSEEK_API_KEY holds an unexpanded placeholder (${env:")
    assert "the host did not expand it" in text and "Export the variable in the environment the host starts" in text
    assert deepseek.requests == []
    # An optional key the host left unexpanded is unset: the key that is set still works.
    async with connect(make_settings(deepseek, env={"ATLASCLOUD_API_KEY": "${ATLASCLOUD_API_KEY}"})) as client:
        result = await client.call_tool("chat", {"prompt": "hi"})
    assert not result.is_error and result.structured_content["provider"] == "deepseek"  # type: ignore[index]


def test_a_key_pasted_inside_the_brackets_is_refused_without_being_shown() -> None:
    key = "sk-0123456789abcdef0123456789abcdef"
    done = _doctor({"DEEPSEEK_API_KEY": f"<{key}>"})
    assert done.returncode == 1
    assert "not shown: it may hold part of a key" in done.stdout and "the key alone, without < >" in done.stdout
    assert key[3:] not in done.stdout + done.stderr and "0123456789" not in done.stdout + done.stderr
