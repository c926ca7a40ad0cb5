"""No SSRF through `ocr` (issue 17, item 7): a self-hosted model server fetches image URLs from inside the user's
network, so a URL for it must not name an address there, in any spelling, unless the user opts in; public providers
fetch from their own network and take any URL as before."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from typing import Any

import pytest
from mcp.types import TextContent

from tests.conftest import connect, make_settings
from tests.fake_upstream import OCR_MODEL, FakeUpstream

pytestmark = pytest.mark.anyio

INSIDE = [
    "http://169.254.169.254/latest/meta-data/iam/security-credentials/",
    "http://metadata.google.internal/computeMetadata/v1/",
    "http://127.0.0.1:2375/containers/json",
    "http://127.9.9.9/x.png",
    "http://[::1]:8500/v1/kv/",
    "http://10.0.0.5/x.png",
    "http://192.168.1.1/x.png",
    "http://172.16.0.1/x.png",
    "http://100.64.0.1/x.png",
    "http://[fd00::1]/x.png",
    "http://[fe80::1]/x.png",
    "http://[::ffff:127.0.0.1]/x.png",
    "http://[::ffff:169.254.169.254]/x.png",
    "http://[2002:7f00:1::]/x.png",
    "http://2130706433/x.png",
    "http://0177.0.0.1/x.png",
    "http://0x7f000001/x.png",
    "http://0x7f.1/x.png",
    "http://127.1/x.png",
    "http://0.0.0.0:8000/x.png",
    "http://localhost:8080/x.png",
    "http://printer.local/x.png",
    "https://user@127.0.0.1/x.png",
    "http://intranet.example/x.png",  # resolves to 10.1.2.3 below
]


@pytest.fixture
def selfhosted() -> Iterator[FakeUpstream]:
    with FakeUpstream("atlas", api_key="sk-selfhosted-0123456789") as fake:
        yield fake


@pytest.fixture
def names(monkeypatch: pytest.MonkeyPatch) -> None:
    """Name resolution without a network: two names, one inside and one outside."""
    table = {"intranet.example": "10.1.2.3", "scans.example": "93.184.216.34"}

    def getaddrinfo(host: str, *args: Any, **kwargs: Any) -> list[Any]:
        if host not in table:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (table[host], 0))]

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)


def _env(fake: FakeUpstream, **extra: str) -> dict[str, str]:
    return {
        "DEEPSEEK_MCP_OPENAI_BASE_URL": fake.base_url,
        "DEEPSEEK_MCP_OPENAI_API_KEY": fake.api_key,
        "DEEPSEEK_MCP_OPENAI_MODEL": OCR_MODEL,
    } | extra


def _text(result: Any) -> str:
    return "\n".join(b.text for b in result.content if isinstance(b, TextContent))


async def test_a_self_hosted_server_is_never_handed_a_url_inside_the_users_network(
    selfhosted: FakeUpstream, names: None
) -> None:
    async with connect(make_settings(env=_env(selfhosted))) as client:
        results = {url: await client.call_tool("ocr", {"source": url}) for url in INSIDE}
        public = await client.call_tool("ocr", {"source": "https://scans.example/page.png"})
        unknown = await client.call_tool("ocr", {"source": "https://nowhere.example/page.png"})
    for url, result in results.items():
        assert result.is_error and "DEEPSEEK_MCP_ALLOW_PRIVATE_URLS=1" in _text(result), (url, _text(result))
    assert "resolves to 10.1.2.3" in _text(results["http://intranet.example/x.png"])
    assert unknown.is_error and "could not be resolved here" in _text(unknown)
    assert not public.is_error, _text(public)
    assert len(selfhosted.chat_requests()) == 1  # the public URL only


async def test_the_user_can_let_a_self_hosted_server_fetch_addresses_in_their_network(selfhosted: FakeUpstream) -> None:
    env = _env(selfhosted, DEEPSEEK_MCP_ALLOW_PRIVATE_URLS="1")
    async with connect(make_settings(env=env)) as client:
        result = await client.call_tool("ocr", {"source": "http://127.0.0.1:2375/x.png"})
    assert not result.is_error, _text(result)
    assert len(selfhosted.chat_requests()) == 1


async def test_a_public_provider_still_takes_a_metadata_url_since_it_fetches_from_its_own_network(
    atlas: FakeUpstream,
) -> None:
    async with connect(make_settings(atlas=atlas)) as client:
        result = await client.call_tool("ocr", {"source": "http://169.254.169.254/latest/meta-data/"})
    assert not result.is_error, _text(result)
    assert len(atlas.chat_requests()) == 1
