"""The people-facing surface: the HTTP transport and its refusals, `doctor`, `call`, and `python -m mcp_server`."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from mcp_server.__main__ import main
from tests.conftest import DEEPSEEK_KEY, upstream_env
from tests.fake_upstream import FakeUpstream

SCRIPT = Path(sys.executable).with_name("deepseek-mcp")
ALICE = "alice-token-0123456789abcdef"
BOB = "bob-token-fedcba9876543210xyz"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def http_server(env: dict[str, str], *args: str) -> Iterator[str]:
    """The console script serving HTTP on a free loopback port; yields the /mcp URL once it accepts connections."""
    port = _free_port()
    proc = subprocess.Popen(  # noqa: S603 - our own console script
        [str(SCRIPT), "serve", "--http", "--port", str(port), *args],
        env={**os.environ, **env},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
            with socket.socket() as sock:
                if sock.connect_ex(("127.0.0.1", port)) == 0:
                    break
            time.sleep(0.05)
        yield f"http://127.0.0.1:{port}/mcp"
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        if proc.stderr:
            proc.stderr.close()


def _post(url: str, headers: dict[str, str]) -> httpx2.Response:
    body = {"jsonrpc": "2.0", "id": 1, "method": "tools/list"}
    base = {"accept": "application/json, text/event-stream", "mcp-protocol-version": "2025-11-25"}
    return httpx2.post(url, json=body, headers={**base, **headers}, timeout=10)


@pytest.mark.anyio
async def test_http_serves_tools_to_a_token_holder_and_keeps_conversations_per_token(deepseek: FakeUpstream) -> None:
    env = {**upstream_env(deepseek), "DEEPSEEK_MCP_HTTP_TOKEN": f"{ALICE},{BOB}"}
    with http_server(env) as url:
        async with (
            httpx2.AsyncClient(headers={"Authorization": f"Bearer {ALICE}"}) as alice_http,
            Client(streamable_http_client(url, http_client=alice_http)) as alice,
        ):
            tools = {t.name for t in (await alice.list_tools()).tools}
            first = await alice.call_tool("chat", {"prompt": "secret plan"})
            convo = first.structured_content["conversation_id"]  # type: ignore[index]
            again = await alice.call_tool("chat", {"prompt": "and then?", "conversation_id": convo})
        async with (
            httpx2.AsyncClient(headers={"Authorization": f"Bearer {BOB}"}) as bob_http,
            Client(streamable_http_client(url, http_client=bob_http), mode="legacy") as bob,
        ):
            stolen = await bob.call_tool("chat", {"prompt": "what was it?", "conversation_id": convo})
    assert {"chat", "reason", "ocr"} <= tools
    assert not first.is_error and not again.is_error
    assert again.content[0].text.endswith("(turn 2)")  # type: ignore[union-attr]
    assert stolen.is_error and "unknown or has expired" in stolen.content[0].text  # type: ignore[union-attr]


def test_http_refuses_requests_without_the_right_token_and_foreign_hosts_or_origins(deepseek: FakeUpstream) -> None:
    env = {**upstream_env(deepseek), "DEEPSEEK_MCP_HTTP_TOKEN": ALICE}
    with http_server(env) as url:
        missing = _post(url, {})
        wrong = _post(url, {"Authorization": "Bearer not-the-token-at-all-xx"})
        rebinding = _post(url, {"Authorization": f"Bearer {ALICE}", "Host": "evil.example:80"})
        origin = _post(url, {"Authorization": f"Bearer {ALICE}", "Origin": "https://evil.example"})
        good = _post(url, {"Authorization": f"Bearer {ALICE}"})
    assert missing.status_code == 401 and wrong.status_code == 401
    assert "Bearer" in missing.headers["www-authenticate"]
    assert rebinding.status_code == 421 and origin.status_code == 403
    assert good.status_code == 200 and "chat" in good.text


@pytest.mark.parametrize(
    ("args", "env", "message"),
    [
        ([], {}, "Set DEEPSEEK_MCP_HTTP_TOKEN"),
        (["--host", "0.0.0.0"], {}, "before binding 0.0.0.0"),
        (["--host", "0.0.0.0", "--no-auth"], {}, "loopback address only"),
        (["--no-auth"], {"DEEPSEEK_MCP_HTTP_TOKEN": ALICE}, "contradict"),
        ([], {"DEEPSEEK_MCP_HTTP_TOKEN": "short"}, "too short"),
        # docs/install.md's own placeholder, and a common one beside a real token: each a token anyone could send.
        ([], {"DEEPSEEK_MCP_HTTP_TOKEN": "<16+ random characters>"}, "still a placeholder"),
        ([], {"DEEPSEEK_MCP_HTTP_TOKEN": f"{ALICE},your-http-token-here"}, "still a placeholder"),
    ],
)
def test_http_refuses_to_start_unsafely_and_says_what_to_set(
    args: list[str],
    env: dict[str, str],
    message: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.delenv("DEEPSEEK_MCP_HTTP_TOKEN", raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert main(["serve", "--http", *args]) == 2
    assert message in capsys.readouterr().err


def test_no_auth_serves_on_loopback_for_tools_that_cannot_send_headers(deepseek: FakeUpstream) -> None:
    with http_server(upstream_env(deepseek), "--no-auth") as url:
        assert _post(url, {}).status_code == 200


def test_doctor_passes_against_a_live_provider_and_never_prints_the_key(
    deepseek: FakeUpstream, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for name, value in upstream_env(deepseek).items():
        monkeypatch.setenv(name, value)
    assert main(["doctor"]) == 0
    out = capsys.readouterr().out
    assert "PASS  DeepSeek /models" in out and "deepseek:deepseek-flash" in out and "2026-07-28" in out
    assert DEEPSEEK_KEY not in out and DEEPSEEK_KEY[:8] not in out


def test_doctor_shows_the_ocr_route_of_each_mode_as_the_readme_routing_table_does(
    deepseek: FakeUpstream, atlas: FakeUpstream, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for name, value in upstream_env(deepseek).items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("ATLASCLOUD_API_KEY", raising=False)
    main(["doctor"])
    lines = [" ".join(line.split()) for line in capsys.readouterr().out.splitlines()]
    assert "ocr markdown ocr_api: DeepSeek's OCR API (rich_layout_recognition)" in lines
    assert "ocr text ocr_api: DeepSeek's OCR API (text_recognition)" in lines
    assert "ocr figure, describe, locate vision: deepseek:deepseek-flash" in lines
    assert not any(line.startswith("default for ocr") for line in lines)
    for name, value in upstream_env(deepseek, atlas).items():
        monkeypatch.setenv(name, value)
    main(["doctor"])
    lines = [" ".join(line.split()) for line in capsys.readouterr().out.splitlines()]
    assert "ocr figure, describe, locate deepseek_ocr: atlas:deepseek-ai/deepseek-ocr" in lines


def test_doctor_fails_clearly_without_keys_and_when_a_provider_rejects_the_key(
    deepseek: FakeUpstream, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for name in ("DEEPSEEK_API_KEY", "ATLASCLOUD_API_KEY", "DEEPSEEK_MCP_OPENAI_BASE_URL"):
        monkeypatch.delenv(name, raising=False)
    assert main(["doctor"]) == 1
    assert "FAIL  providers" in capsys.readouterr().out
    monkeypatch.setenv("DEEPSEEK_API_KEY", "sk-wrong-key-000000")
    monkeypatch.setenv("DEEPSEEK_BASE_URL", deepseek.base_url)
    assert main(["doctor"]) == 1
    out = capsys.readouterr().out
    assert "FAIL  DeepSeek /models" in out and "check DEEPSEEK_API_KEY" in out and "sk-wrong-key" not in out


def test_call_prints_the_answer_on_stdout_and_progress_on_stderr(deepseek: FakeUpstream) -> None:
    env = {**os.environ, **upstream_env(deepseek)}
    done = subprocess.run(  # noqa: S603 - our own console script
        [str(SCRIPT), "call", "reason", "prompt=hello", "effort=low"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.endswith("--- answer ---\nYou said: hello (turn 1)\n")
    assert "reasoning" in done.stderr and DEEPSEEK_KEY not in done.stdout + done.stderr


def test_call_without_a_key_fails_with_the_variable_to_set(monkeypatch: pytest.MonkeyPatch) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("DEEPSEEK_API_KEY", "ATLASCLOUD_API_KEY")}
    done = subprocess.run(  # noqa: S603 - our own console script
        [str(SCRIPT), "call", "chat", "prompt=hello"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 1 and "DEEPSEEK_API_KEY" in done.stdout


def test_python_dash_m_starts_the_same_server(deepseek: FakeUpstream) -> None:
    env = {**os.environ, **upstream_env(deepseek)}
    done = subprocess.run(
        [sys.executable, "-m", "mcp_server", "call", "chat", "prompt=via -m", "--json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0 and '"answer": "You said: via -m (turn 1)"' in done.stdout


def test_a_bad_setting_stops_the_server_with_the_variable_named(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("DEEPSEEK_MCP_TIMEOUT", "forever")
    assert main([]) == 2
    assert "DEEPSEEK_MCP_TIMEOUT" in capsys.readouterr().err
