"""Which local files a caller may have read (DEEPSEEK_MCP_FILE_ROOTS), over stdio and HTTP, and the HTTP
transport's own edges: wildcard binds, the Bearer scheme's case, scopes other than HTTP (issue 10)."""

from __future__ import annotations

import base64
import os
import socket
from pathlib import Path
from typing import Any

import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.types import PromptReference, TextContent

from mcp_server.serving.http import BearerAuth, HttpOnly, HttpOptions, security_settings
from tests.conftest import connect, make_settings, upstream_env
from tests.fake_upstream import FakeUpstream
from tests.samples import png
from tests.test_http_and_cli import _post, http_server

pytestmark = pytest.mark.anyio
TOKEN = "roots-token-0123456789abcdef"


def _text(result: Any) -> str:
    return "\n".join(b.text for b in result.content if isinstance(b, TextContent))


@pytest.fixture
def tree(tmp_path: Path) -> dict[str, Path]:
    """A root with a scan, a link out of it, and a secret beside it."""
    root, outside = tmp_path / "root", tmp_path / "outside"
    root.mkdir()
    outside.mkdir()
    (root / "scan.png").write_bytes(png())
    (outside / "secret.png").write_bytes(png())
    (root / "link.png").symlink_to(outside / "secret.png")
    (root / "sub").mkdir()
    return {"root": root, "outside": outside}


async def _ocr(client: Client, source: str) -> Any:
    return await client.call_tool("ocr", {"source": source})


async def test_with_file_roots_only_files_inside_them_are_read_after_resolving_links(
    atlas: FakeUpstream, tree: dict[str, Path]
) -> None:
    root, outside = tree["root"], tree["outside"]
    settings = make_settings(atlas=atlas, env={"DEEPSEEK_MCP_FILE_ROOTS": str(root)})
    async with connect(settings) as client:
        inside = await _ocr(client, str(root / "scan.png"))
        direct = await _ocr(client, str(outside / "secret.png"))
        linked = await _ocr(client, str(root / "link.png"))
        dotdot = await _ocr(client, str(root / "sub" / ".." / ".." / "outside" / "secret.png"))
        missing_inside = await _ocr(client, str(root / "nope.png"))
        missing_outside = await _ocr(client, str(outside / "nope.png"))
    assert not inside.is_error, _text(inside)
    for refused in (direct, linked, dotdot, missing_outside):
        assert refused.is_error and "is outside DEEPSEEK_MCP_FILE_ROOTS" in _text(refused), _text(refused)
        assert "does not exist" not in _text(refused)  # no saying what exists outside the roots
    assert missing_inside.is_error and "does not exist" in _text(missing_inside)
    assert len(atlas.chat_requests()) == 1


async def test_over_http_no_local_path_is_read_without_file_roots_but_content_still_is(
    atlas: FakeUpstream, tree: dict[str, Path]
) -> None:
    env = {**upstream_env(atlas=atlas), "DEEPSEEK_MCP_HTTP_TOKEN": TOKEN}
    with http_server(env) as url:
        async with (
            httpx2.AsyncClient(headers={"Authorization": f"Bearer {TOKEN}"}) as http,
            Client(streamable_http_client(url, http_client=http)) as client,
        ):
            path = await _ocr(client, str(tree["root"] / "scan.png"))
            etc = await _ocr(client, "/etc/passwd")
            content = await _ocr(client, base64.b64encode(png()).decode())
            listing = await client.complete(
                PromptReference(type="ref/prompt", name="document_to_markdown"), {"name": "source", "value": "/etc/"}
            )
    for refused in (path, etc):
        assert refused.is_error and "DEEPSEEK_MCP_FILE_ROOTS" in _text(refused) and "serving HTTP" in _text(refused)
    assert not content.is_error and listing.completion.values == []
    assert len(atlas.chat_requests()) == 1


async def test_over_http_with_file_roots_files_inside_are_read_and_completion_lists_only_them(
    atlas: FakeUpstream, tree: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tree["root"]
    env = {**upstream_env(atlas=atlas), "DEEPSEEK_MCP_HTTP_TOKEN": TOKEN, "DEEPSEEK_MCP_FILE_ROOTS": str(root)}
    with http_server(env) as url:
        async with (
            httpx2.AsyncClient(headers={"Authorization": f"Bearer {TOKEN}"}) as http,
            Client(streamable_http_client(url, http_client=http)) as client,
        ):
            inside = await _ocr(client, str(root / "scan.png"))
            outside = await _ocr(client, str(tree["outside"] / "secret.png"))
            ref = PromptReference(type="ref/prompt", name="document_to_markdown")
            listed = await client.complete(ref, {"name": "source", "value": f"{root}/s"})
            etc = await client.complete(ref, {"name": "source", "value": "/etc/"})
    assert not inside.is_error and outside.is_error
    assert listed.completion.values == [f"{root}/scan.png", f"{root}/sub/"] and etc.completion.values == []


async def test_stdio_without_file_roots_keeps_reading_what_its_user_can(
    atlas: FakeUpstream, tree: dict[str, Path]
) -> None:
    async with connect(make_settings(atlas=atlas)) as client:
        result = await _ocr(client, str(tree["outside"] / "secret.png"))
    assert not result.is_error


def test_a_wildcard_bind_accepts_the_machines_own_name_and_loopback_but_not_others(deepseek: FakeUpstream) -> None:
    env = {**upstream_env(deepseek), "DEEPSEEK_MCP_HTTP_TOKEN": TOKEN}
    auth = {"Authorization": f"Bearer {TOKEN}"}
    with http_server(env, "--host", "0.0.0.0") as url:
        port = url.split(":")[2].split("/")[0]
        own = _post(url, {**auth, "Host": f"{socket.gethostname()}:{port}"})
        loopback = _post(url, auth)
        foreign = _post(url, {**auth, "Host": f"evil.example:{port}"})
    assert own.status_code == 200 and loopback.status_code == 200 and foreign.status_code == 421


def test_the_bearer_scheme_is_case_insensitive(deepseek: FakeUpstream) -> None:
    env = {**upstream_env(deepseek), "DEEPSEEK_MCP_HTTP_TOKEN": TOKEN}
    with http_server(env) as url:
        lower = _post(url, {"Authorization": f"bearer {TOKEN}"})
        upper = _post(url, {"Authorization": f"BEARER  {TOKEN}"})
        other = _post(url, {"Authorization": f"Basic {TOKEN}"})
    assert lower.status_code == 200 and upper.status_code == 200 and other.status_code == 401


def test_an_extra_allowed_host_is_added_to_the_machines_own() -> None:
    settings = security_settings(HttpOptions(host="0.0.0.0", allowed_hosts=["mcp.example.com"]))
    assert "mcp.example.com" in settings.allowed_hosts and f"{socket.gethostname()}:*" in settings.allowed_hosts
    assert "127.0.0.1:*" in settings.allowed_hosts


@pytest.mark.parametrize("middleware", [lambda app: BearerAuth(app, (TOKEN,)), HttpOnly])
async def test_a_websocket_scope_is_refused_not_passed_through(middleware: Any) -> None:
    reached: list[str] = []
    sent: list[dict[str, Any]] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        reached.append(scope["type"])

    async def receive() -> dict[str, Any]:
        return {"type": "websocket.connect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    guarded = middleware(app)
    headers = [(b"authorization", f"Bearer {TOKEN}".encode())]
    await guarded({"type": "websocket", "headers": headers, "path": "/mcp"}, receive, send)
    await guarded({"type": "lifespan"}, receive, send)
    assert reached == ["lifespan"] and sent[0]["type"] == "websocket.close"


def test_file_roots_are_taken_from_the_environment_separated_by_the_os_separator(tmp_path: Path) -> None:
    from mcp_server.core.config import Settings

    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    roots = Settings.from_env({"DEEPSEEK_MCP_FILE_ROOTS": f"{tmp_path / 'a'}{os.pathsep}{tmp_path / 'b'}"}).file_roots
    assert roots == ((tmp_path / "a").resolve(), (tmp_path / "b").resolve())
