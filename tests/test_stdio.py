"""End to end: the installed console script over stdio, driven by the SDK's client and by raw JSON-RPC lines."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import IO, Any

import anyio
import pytest
from mcp import Client, StdioServerParameters
from mcp.client.stdio import stdio_client
from mcp.types import TextContent

from tests.conftest import ATLAS_KEY, DEEPSEEK_KEY, upstream_env
from tests.fake_upstream import FakeUpstream, Reply

pytestmark = pytest.mark.anyio

SCRIPT = Path(sys.executable).with_name("deepseek-mcp")


def server_params(env: dict[str, str]) -> StdioServerParameters:
    assert SCRIPT.exists(), f"install the package first (README): {SCRIPT} is missing"
    return StdioServerParameters(command=str(SCRIPT), env={"DEEPSEEK_MCP_LOG_LEVEL": "DEBUG", **env})


async def test_the_console_script_serves_every_tool_over_stdio_in_both_eras(
    deepseek: FakeUpstream, atlas: FakeUpstream, mode: str, tmp_path: Path
) -> None:
    errlog = tmp_path / "stderr.txt"
    progress: list[str | None] = []

    async def on_progress(value: float, total: float | None, message: str | None) -> None:
        progress.append(message)

    deepseek.script(Reply(path="/chat/completions"), Reply(reasoning="r1 r2 r3", content="a1 a2", token_delay=0.02))
    with errlog.open("w") as err:
        async with Client(stdio_client(server_params(upstream_env(deepseek, atlas)), errlog=err), mode=mode) as c:
            names = {t.name for t in (await c.list_tools()).tools}
            chat = await c.call_tool("chat", {"prompt": "over stdio"})
            reason = await c.call_tool("reason", {"prompt": "think"}, progress_callback=on_progress)
            models = await c.call_tool("list_models", {})
            failing = await c.call_tool("chat", {"prompt": "x", "model": "deepseek-reasoner"})
            after = await c.call_tool("chat", {"prompt": "still there?"})
    assert {"chat", "reason", "list_models"} <= names
    assert _text(chat) == ["You said: over stdio (turn 1)"]
    assert _text(reason) == ["r1 r2 r3", "a1 a2"]
    assert [b.meta for b in reason.content] == [{"deepseek-mcp/kind": "reasoning"}, {"deepseek-mcp/kind": "answer"}]
    assert any(m and "reasoning" in m for m in progress)
    assert not models.is_error and failing.is_error and "list_models" in _text(failing)[0]
    assert not after.is_error
    _assert_no_key(errlog.read_text(), chat, reason, models, failing, after)


async def test_cancelling_over_stdio_closes_the_upstream_connection(deepseek: FakeUpstream, tmp_path: Path) -> None:
    deepseek.script(Reply(content=" ".join(["w"] * 400), token_delay=0.05))
    with (tmp_path / "stderr.txt").open("w") as err:
        async with Client(stdio_client(server_params(upstream_env(deepseek)), errlog=err)) as client:
            with anyio.move_on_after(0.6):
                await client.call_tool("chat", {"prompt": "long"})
            dropped = await anyio.to_thread.run_sync(
                lambda: deepseek.wait_for(lambda f: bool(f.requests) and f.requests[0].client_disconnected, 1.0)
            )
            still = await client.call_tool("chat", {"prompt": "next"})
    assert dropped and not still.is_error


def test_stdout_carries_only_json_rpc_even_on_errors_and_debug_logging(deepseek: FakeUpstream) -> None:
    deepseek.script(
        Reply(status=500, error="boom"),
        Reply(status=500, error="boom"),
        Reply(status=500, error="boom"),
        Reply(status=500, error="boom"),
    )
    env = {**os.environ, **upstream_env(deepseek), "DEEPSEEK_MCP_LOG_LEVEL": "DEBUG", "DEEPSEEK_MCP_MAX_RETRIES": "1"}
    requests = [
        {
            "jsonrpc": "2.0",
            "id": 1,
            "method": "initialize",
            "params": {
                "protocolVersion": "2025-11-25",
                "capabilities": {},
                "clientInfo": {"name": "raw", "version": "0"},
            },
        },
        {"jsonrpc": "2.0", "method": "notifications/initialized"},
        {"jsonrpc": "2.0", "id": 2, "method": "tools/list"},
        {"jsonrpc": "2.0", "id": 3, "method": "tools/call", "params": {"name": "chat", "arguments": {"prompt": "x"}}},
        {"jsonrpc": "2.0", "id": 4, "method": "tools/call", "params": {"name": "nope", "arguments": {}}},
    ]
    proc = subprocess.Popen(  # noqa: S603 - our own console script
        [str(SCRIPT)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, text=True
    )
    assert proc.stdin is not None and proc.stdout is not None
    responses = {}
    try:
        for request in requests:
            proc.stdin.write(json.dumps(request) + "\n")
            proc.stdin.flush()
            if "id" in request:
                responses.update(_read_until(proc.stdout, request["id"]))
    finally:
        proc.stdin.close()
        stderr = proc.stderr.read() if proc.stderr else ""
        proc.wait(timeout=10)
        proc.stdout.close()
        if proc.stderr:
            proc.stderr.close()
    assert responses[3]["result"]["isError"] is True and "HTTP 500" in responses[3]["result"]["content"][0]["text"]
    assert "gave up after 2 attempts" in responses[3]["result"]["content"][0]["text"]
    assert DEEPSEEK_KEY not in stderr and "DEBUG" in stderr


def _read_until(stdout: IO[str], request_id: int) -> dict[int, Any]:
    """Read lines until the response to `request_id`; every line must be a JSON-RPC message."""
    seen: dict[int, Any] = {}
    while True:
        line = stdout.readline()
        assert line, "the server closed stdout"
        message = json.loads(line)  # anything that is not JSON-RPC on stdout fails here
        assert message.get("jsonrpc") == "2.0", line
        if "id" in message:
            seen[message["id"]] = message
            if message["id"] == request_id:
                return seen


def _text(result: Any) -> list[str]:
    return [b.text for b in result.content if isinstance(b, TextContent)]


def _assert_no_key(stderr: str, *results: Any) -> None:
    dumped = stderr + "".join(r.model_dump_json() for r in results)
    assert DEEPSEEK_KEY not in dumped and ATLAS_KEY not in dumped
