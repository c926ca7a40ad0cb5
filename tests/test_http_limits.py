"""Bounds of `serve --http` (issue 17, item 13): one request-body limit, DEEPSEEK_MCP_MAX_REQUEST_BYTES, large
enough for the documented 32 MiB OCR source as base64 inside JSON-RPC, enforced as the body streams in, and
refused with a JSON-RPC error that names the limit and the variable (not the SDK's bare 413)."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator

import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError

from tests.conftest import upstream_env
from tests.fake_upstream import FakeUpstream
from tests.test_http_and_cli import http_server

TOKEN = "limits-token-0123456789abcdef"
HEADERS = {
    "authorization": f"Bearer {TOKEN}",
    "accept": "application/json, text/event-stream",
    "mcp-protocol-version": "2025-11-25",
    "content-type": "application/json",
}


def _ocr_request(source: str) -> bytes:
    call = {"name": "ocr", "arguments": {"source": source}}
    return json.dumps({"jsonrpc": "2.0", "id": 7, "method": "tools/call", "params": call}).encode()


def _sent_in_pieces(body: bytes, piece: int = 256 * 1024) -> Iterator[bytes]:
    """No Content-Length: the server learns the size only as the chunks arrive."""
    for start in range(0, len(body), piece):
        yield body[start : start + piece]


def test_an_ocr_source_past_the_sdks_4_mib_reaches_the_tool_over_http(deepseek: FakeUpstream) -> None:
    garbage = base64.b64encode(b"\x00not an image" * 500_000).decode()  # 6.5 MB of base64: past 4 MiB
    env = {**upstream_env(deepseek), "DEEPSEEK_MCP_HTTP_TOKEN": TOKEN}
    with http_server(env) as url:
        response = httpx2.post(url, content=_ocr_request(garbage), headers=HEADERS, timeout=30)
    assert response.status_code == 200, response.text[:300]
    assert "does not decode to an image or PDF" in response.text  # the tool itself looked at it


@pytest.mark.anyio
async def test_a_body_past_the_limit_is_refused_with_a_json_rpc_error_naming_the_variable(
    deepseek: FakeUpstream,
) -> None:
    env = {**upstream_env(deepseek), "DEEPSEEK_MCP_HTTP_TOKEN": TOKEN, "DEEPSEEK_MCP_MAX_REQUEST_BYTES": "1048576"}
    body = _ocr_request("A" * 2 * 2**20)
    with http_server(env) as url:
        declared = httpx2.post(url, content=body, headers=HEADERS, timeout=30)
        streamed = httpx2.post(url, content=_sent_in_pieces(body), headers=HEADERS, timeout=30)
        async with (
            httpx2.AsyncClient(headers={"Authorization": f"Bearer {TOKEN}"}) as http,
            Client(streamable_http_client(url, http_client=http)) as client,
        ):
            with pytest.raises(MCPError, match="DEEPSEEK_MCP_MAX_REQUEST_BYTES") as refused:
                await client.call_tool("chat", {"prompt": "x" * 2 * 2**20})
            still = await client.call_tool("chat", {"prompt": "still serving?"})
    for response in (declared, streamed):
        assert response.status_code == 413 and response.headers["content-type"] == "application/json"
        error = response.json()["error"]
        assert "1,048,576 bytes" in error["message"] and "DEEPSEEK_MCP_MAX_REQUEST_BYTES" in error["message"]
    assert "larger than 1,048,576 bytes" in str(refused.value)
    assert not still.is_error
