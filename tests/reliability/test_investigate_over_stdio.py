"""`investigate` through the installed console script, over stdio (relative paths from the server's working
directory) and over HTTP (inside DEEPSEEK_MCP_FILE_ROOTS), with a scripted model that reaches for every secret and
every path outside the folder: nothing of them reaches the provider or the client."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import anyio
import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from tests.agent_project import INJECTION, MARKERS, make_agent_project
from tests.fake.agent import Call, Script, Turn
from tests.fake_upstream import FakeUpstream
from tests.reliability.conftest import StdioServer, server_env, stdio_server, text_of
from tests.test_http_and_cli import ALICE, http_server

pytestmark = pytest.mark.reliability
TRAPS = [".env", "src/settings.py", "../outside.txt", "/etc/passwd", "link_out.txt", "linked_dir/notes.txt"]
TRAPS += ["node_modules/left-pad/index.js", "generated/models.py", "notes/todo.txt", "~/.ssh/id_rsa"]


def _trap_script() -> Script:
    return Script(
        [
            Turn([Call("read_file", {"path": path}) for path in TRAPS]),
            Turn([Call("read_file", {"path": "README.md"}), Call("grep", {"pattern": "AKIA|hunter2|OUTSIDE"})]),
            Turn([Call("read_file", {"path": "src/app.py"})]),
        ],
        final="main returns 42 at src/app.py:2; src/app.py:9 is wrong.",
    )


@pytest.fixture(scope="module")
def project(workdir: Path) -> Path:
    return make_agent_project(workdir / "home")


@pytest.fixture(scope="module")
def server(upstream: FakeUpstream, workdir: Path, project: Path) -> Iterator[StdioServer]:
    with stdio_server(server_env(upstream), project.parent) as live:
        yield live


@pytest.fixture(autouse=True)
def fresh(upstream: FakeUpstream, server: StdioServer) -> Iterator[None]:
    upstream.reset()
    yield
    server.assert_nothing_leaked()
    written = server.stderr() + "\n".join(server.wire)
    assert not [m for m in MARKERS if m in written]


def test_over_stdio_a_model_reaching_for_secrets_gets_refusals_and_none_of_their_bytes_leave(
    upstream: FakeUpstream, server: StdioServer
) -> None:
    upstream.agent = _trap_script()
    result = server.call("investigate", {"question": "find the secrets", "paths": ["project"]})
    assert not result.is_error, text_of(result)
    out = result.structured_content
    assert out is not None
    assert [s["outcome"].startswith("refused") for s in out["steps"]] == [True] * len(TRAPS) + [False] * 3
    sent = b"".join(r.body for r in upstream.chat_requests())
    assert INJECTION.encode() in sent and not [m for m in MARKERS if m.encode() in sent]
    evidence = {e["start_line"]: e for e in out["evidence"]}
    assert evidence[2]["verified"] and evidence[2]["quote"] == "    return 42" and not evidence[9]["verified"]
    assert "1 of 2 citations are not verified" in text_of(result) and evidence[9]["check"] == "no such lines"


def test_over_stdio_without_paths_the_working_directory_is_investigated(
    upstream: FakeUpstream, server: StdioServer
) -> None:
    upstream.agent = Script([Turn([Call("list_dir", {"path": ""})])], final="It holds project/.")
    result = server.call("investigate", {"question": "what is here?"})
    assert not result.is_error, text_of(result)
    listing = upstream.chat_requests()[-1].json["messages"][-1]["content"]
    assert "project/" in listing.splitlines() and "outside.txt 24 bytes" in listing.splitlines()


@pytest.mark.anyio
async def test_over_http_paths_are_required_and_must_lie_inside_the_file_roots(
    upstream: FakeUpstream, project: Path
) -> None:
    env = {**server_env(upstream), "DEEPSEEK_MCP_HTTP_TOKEN": ALICE, "DEEPSEEK_MCP_FILE_ROOTS": str(project)}
    upstream.agent = _trap_script()
    with http_server(env) as url:
        async with (
            httpx2.AsyncClient(headers={"Authorization": f"Bearer {ALICE}"}) as http,
            Client(streamable_http_client(url, http_client=http)) as client,
        ):
            with anyio.fail_after(60):
                missing = await client.call_tool("investigate", {"question": "q"})
                outside = await client.call_tool("investigate", {"question": "q", "paths": [str(project.parent)]})
                inside = await client.call_tool("investigate", {"question": "q", "paths": [str(project)]})
    assert missing.is_error and "pass `paths`" in text_of(missing) and "DEEPSEEK_MCP_FILE_ROOTS" in text_of(missing)
    assert outside.is_error and "outside DEEPSEEK_MCP_FILE_ROOTS" in text_of(outside)
    assert not inside.is_error, text_of(inside)
    assert inside.structured_content is not None and inside.structured_content["evidence"][0]["verified"]
    sent = b"".join(r.body for r in upstream.chat_requests())
    assert len(upstream.chat_requests()) == 4 and not [m for m in MARKERS if m.encode() in sent]
