"""`files` through the installed console script: over stdio (relative paths from the server's working directory)
and over HTTP, against the fake upstream, with the exact text the provider received checked and the secrets of
the project tree searched for in everything the server wrote."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import anyio
import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from tests.fake_upstream import FakeUpstream
from tests.projects import ENV_SECRET, KEY_MATERIAL, SENT, SKIPPED, make_project
from tests.reliability.conftest import StdioServer, server_env, stdio_server, text_of
from tests.test_http_and_cli import ALICE, http_server

pytestmark = pytest.mark.reliability


@pytest.fixture(scope="module")
def project(workdir: Path) -> Path:
    return make_project(workdir)


@pytest.fixture(scope="module")
def server(upstream: FakeUpstream, workdir: Path, project: Path) -> Iterator[StdioServer]:
    with stdio_server(server_env(upstream), workdir) as live:
        yield live


@pytest.fixture(autouse=True)
def fresh(upstream: FakeUpstream, server: StdioServer) -> Iterator[None]:
    upstream.reset()
    yield
    server.assert_nothing_leaked()
    assert KEY_MATERIAL not in server.stderr() and ENV_SECRET not in server.stderr()
    assert all(KEY_MATERIAL not in line and ENV_SECRET not in line for line in server.wire)


def _expected_block(project: Path) -> str:
    """The block as README documents it, built from the files on disk without the server's code."""
    head = (
        "The user's files follow, read from disk by deepseek-mcp; each is labelled with its path relative to the "
        "folder the files share.\n\n"
    )
    files = "".join(f'<file path="{name}">\n{(project / name).read_text()}</file>\n\n' for name in SENT)
    return f"{head}{files}(End of files.)\n\n"


def test_a_relative_folder_goes_out_exactly_as_documented_and_the_repeat_hits_the_cache(
    upstream: FakeUpstream, server: StdioServer, project: Path
) -> None:
    first = server.call("chat", {"prompt": "review it", "files": ["project"]})
    second = server.call("chat", {"prompt": "again, shorter", "files": ["project/"]})
    assert not first.is_error and not second.is_error, (text_of(first), text_of(second))
    sent = [r.json["messages"] for r in upstream.chat_requests()]
    assert sent[0] == [{"role": "user", "content": _expected_block(project) + "review it"}]
    assert sent[1] == [{"role": "user", "content": _expected_block(project) + "again, shorter"}]
    assert all(KEY_MATERIAL.encode() not in r.body and ENV_SECRET.encode() not in r.body for r in upstream.requests)
    out = [r.structured_content for r in (first, second)]
    assert out[0] is not None and out[1] is not None
    assert [f["path"] for f in out[0]["files"]] == SENT
    assert {s["path"]: s["reason"] for s in out[0]["skipped"]} == SKIPPED
    assert out[0]["usage"]["cache_hit_tokens"] == 0 and out[1]["usage"]["cache_hit_tokens"] >= 64
    assert f"Skipped {len(SKIPPED)}:" in text_of(first)


def test_a_secret_named_directly_is_refused_and_nothing_reaches_the_provider(
    upstream: FakeUpstream, server: StdioServer, project: Path
) -> None:
    for name in ("project/.env", "project/certs/server.pem", "project/notes/todo.txt", "project/.aws/config"):
        result = server.call("reason", {"prompt": "x", "files": ["project/src", name]})
        assert result.is_error and "refused" in text_of(result) and "nothing was sent" in text_of(result)
    missing = server.call("chat", {"prompt": "x", "files": ["project/nope"]})
    assert missing.is_error and "project/nope does not exist" in text_of(missing)
    assert upstream.requests == []
    assert not server.call("chat", {"prompt": "still serving"}).is_error


@pytest.mark.anyio
async def test_over_http_files_are_refused_without_file_roots_and_read_inside_them(
    upstream: FakeUpstream, project: Path
) -> None:
    results = []
    for roots in ({}, {"DEEPSEEK_MCP_FILE_ROOTS": str(project / "src")}):
        env = {**server_env(upstream), "DEEPSEEK_MCP_HTTP_TOKEN": ALICE, **roots}
        with http_server(env) as url:
            async with (
                httpx2.AsyncClient(headers={"Authorization": f"Bearer {ALICE}"}) as http,
                Client(streamable_http_client(url, http_client=http)) as client,
            ):
                with anyio.fail_after(30):
                    results.append(await client.call_tool("chat", {"prompt": "x", "files": [str(project / "src")]}))
    refused, allowed = results
    assert refused.is_error and "serving HTTP" in text_of(refused) and "DEEPSEEK_MCP_FILE_ROOTS" in text_of(refused)
    assert not allowed.is_error, text_of(allowed)
    assert len(upstream.chat_requests()) == 1 and "return 42" in upstream.chat_requests()[0].body.decode()
