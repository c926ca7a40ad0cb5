"""Worker threads per owner (issue 24): every blocking step of a tool call (investigate's function calls, opening
its workspace, checking citations, `files`, review's reading) holds a thread of its owner's share, eight of
anyio's forty, so one HTTP token's stuck investigations leave threads for another token; a call that waits for a
thread does not spend its files' time bound waiting; and grep stops at the call's bound on a slow pattern."""

from __future__ import annotations

import dataclasses
import random
import socket
import threading
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import httpx2
import pytest
import uvicorn
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.types import TextContent

from mcp_server.agent import loop as loop_module
from mcp_server.core.config import Limits
from mcp_server.server import build_server
from mcp_server.serving import app as app_module
from mcp_server.serving.http import HttpOptions, build_app
from tests.conftest import connect, make_settings
from tests.fake.agent import Call, Script, Turn
from tests.fake_upstream import FakeUpstream
from tests.samples import png

pytestmark = pytest.mark.anyio

ALICE, BOB = "alice-token-0123456789abcdef", "bob-token-fedcba9876543210"
POOL = 40  # anyio's worker threads


def _text(result: Any) -> str:
    return "\n".join(b.text for b in result.content if isinstance(b, TextContent))


class Stuck:
    """investigate's function calls, held in their threads until released (a grep that takes as long as the test
    wants); counts how many are held."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.release = threading.Event()
        self.held = 0
        self._lock = threading.Lock()
        real = loop_module.call

        def stuck(workspace: Any, name: str, arguments: str) -> Any:
            with self._lock:
                self.held += 1
            self.release.wait(60)
            return real(workspace, name, arguments)

        monkeypatch.setattr(loop_module, "call", stuck)


def _shares(monkeypatch: pytest.MonkeyPatch) -> dict[str, anyio.CapacityLimiter]:
    """Every owner's share of the threads, as the server hands them out."""
    seen: dict[str, anyio.CapacityLimiter] = {}
    real = app_module.AppContext.threads_for

    def recorded(self: app_module.AppContext, owner: str) -> anyio.CapacityLimiter:
        seen[owner] = real(self, owner)
        return seen[owner]

    monkeypatch.setattr(app_module.AppContext, "threads_for", recorded)
    return seen


async def _until(condition: Callable[[], bool]) -> None:
    """Poll a fact that worker threads change (they have no event to wait on); the caller's fail_after bounds it."""
    while not condition():  # noqa: ASYNC110 - threads, not tasks, make it true
        await anyio.sleep(0.01)


@asynccontextmanager
async def _http(settings: Any) -> AsyncIterator[str]:
    """`serve --http` in this process and event loop (so the test's patches reach it), on a free loopback port."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen()
    port = sock.getsockname()[1]
    options = HttpOptions(port=port, tokens=(ALICE, BOB))
    app = build_app(build_server(dataclasses.replace(settings, serves_http=True)), options)
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", log_config=None, lifespan="on"))
    with sock:
        async with anyio.create_task_group() as tg:
            tg.start_soon(server.serve, [sock])
            try:
                yield f"http://127.0.0.1:{port}/mcp"
            finally:
                server.should_exit = True


@asynccontextmanager
async def _client(url: str, token: str) -> AsyncIterator[Client]:
    async with (
        httpx2.AsyncClient(headers={"Authorization": f"Bearer {token}"}, timeout=120) as http,
        Client(streamable_http_client(url, http_client=http)) as client,
    ):
        yield client


async def test_one_tokens_stuck_investigations_leave_threads_for_another_tokens_files_call(
    deepseek: FakeUpstream, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "notes.py").write_text("print('bob reads this')\n")
    stuck, shares = Stuck(monkeypatch), _shares(monkeypatch)
    deepseek.agent = Script([Turn([Call("grep", {"pattern": "print"})])], repeat=True)
    settings = make_settings(deepseek, env={"DEEPSEEK_MCP_FILE_ROOTS": str(tmp_path)})
    results: list[Any] = []
    with anyio.fail_after(60):
        async with _http(settings) as url, _client(url, ALICE) as alice, _client(url, BOB) as bob:

            async def investigate() -> None:
                arguments = {"question": "where is print?", "paths": [str(tmp_path)], "max_steps": 1}
                results.append(await alice.call_tool("investigate", arguments))

            async with anyio.create_task_group() as tg:
                for _ in range(POOL):
                    tg.start_soon(investigate)
                # Settled: either every thread of the pool is Alice's, or Alice holds her share and waits for it.
                waiting = lambda: sum(s.statistics().tasks_waiting for s in shares.values())  # noqa: E731
                await _until(lambda: stuck.held == POOL or (stuck.held == 8 and waiting() == POOL - 8))
                held = stuck.held
                try:
                    with anyio.fail_after(15):
                        read = await bob.call_tool("chat", {"prompt": "Sum up.", "files": [str(tmp_path / "notes.py")]})
                finally:
                    stuck.release.set()
    assert held == 8, "one token's investigations took more than its share of the worker threads"
    assert not read.is_error and "bob reads this" in deepseek.chat_requests()[-1].body.decode(), _text(read)
    assert len(results) == POOL and not any(r.is_error for r in results), [_text(r) for r in results if r.is_error]


async def test_a_call_waiting_for_its_owners_threads_does_not_spend_its_files_time_bound_waiting(
    deepseek: FakeUpstream, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "notes.py").write_text("print('read after the wait')\n")
    clock = FakeClock()
    monkeypatch.setattr("mcp_server.context.model.time", clock)  # the files' own clock (Job)
    monkeypatch.setattr("mcp_server.core.threads.time", clock)  # what a call waited for threads
    stuck, shares = Stuck(monkeypatch), _shares(monkeypatch)
    deepseek.agent = Script([Turn([Call("grep", {"pattern": "print"})])], repeat=True)
    async with connect(make_settings(deepseek)) as client:
        done: list[Any] = []

        async def investigate() -> None:
            arguments = {"question": "where?", "paths": [str(tmp_path)], "max_steps": 1}
            await client.call_tool("investigate", arguments)

        async def read() -> None:
            done.append(await client.call_tool("chat", {"prompt": "Summarise.", "files": [str(tmp_path)]}))

        with anyio.fail_after(30):
            async with anyio.create_task_group() as tg:
                for _ in range(8):
                    tg.start_soon(investigate)
                try:
                    await _until(lambda: stuck.held == 8)
                    tg.start_soon(read)
                    await _until(lambda: bool(done) or sum(s.statistics().tasks_waiting for s in shares.values()) == 1)
                    finished_early = bool(done)
                    clock.now += Limits.context_seconds * 4  # a long wait for a thread
                finally:
                    stuck.release.set()
    assert not finished_early, "the files call did not wait for its owner's threads"
    assert not done[0].is_error, _text(done[0])
    assert "read after the wait" in deepseek.chat_requests()[-1].body.decode()


class FakeClock:
    """time.monotonic for the two modules that keep a call's clocks; the event loop keeps the real one."""

    def __init__(self) -> None:
        self.now = 1000.0

    def monotonic(self) -> float:
        return self.now


async def test_grep_with_a_slow_pattern_stops_at_the_calls_bound_and_says_so(
    deepseek: FakeUpstream, tmp_path: Path
) -> None:
    rnd = random.Random(24)
    # `a`s and `b`s with no `c`: RE2's automaton gives up on this pattern and crawls (about 10 s per MiB).
    (tmp_path / "ab.txt").write_text("".join(rnd.choice("ab") for _ in range(2**20)))
    deepseek.agent = Script([Turn([Call("grep", {"pattern": "(?s)a.{999}b.{999}c"})])])
    settings = make_settings(deepseek, limits=Limits(context_seconds=0.5))
    async with connect(settings) as client:
        with anyio.fail_after(6):  # the search alone would take 10 s or more
            result = await client.call_tool("investigate", {"question": "any abc?", "paths": [str(tmp_path)]})
    step = result.structured_content["steps"][0]
    assert not result.is_error and step["name"] == "grep", _text(result)
    assert "stopped at the time bound" in step["outcome"]
    sent = deepseek.chat_requests()[1].body.decode()
    assert "stopped at the 0.5 s bound of one call after 1 of 1 files" in sent


@pytest.mark.parametrize("route", ["ocr_api", "chat"])
async def test_an_ocr_source_whose_read_hangs_frees_its_call_at_the_deadline(
    deepseek: FakeUpstream, atlas: FakeUpstream, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, route: str
) -> None:
    # A dead network or FUSE mount: the read returns only when the file system answers (released at the end).
    from mcp_server.media import documents, sources

    (tmp_path / "scan.png").write_bytes(png())
    release = threading.Event()
    module, name = (documents, "open_file") if route == "ocr_api" else (sources, "read_file")
    real = getattr(module, name)

    def hung(*args: Any) -> Any:
        release.wait(60)
        return real(*args)

    monkeypatch.setattr(module, name, hung)
    env = {"DEEPSEEK_MCP_MAX_CALL_SECONDS": "0.5"}
    settings = make_settings(deepseek, env=env) if route == "ocr_api" else make_settings(atlas=atlas, env=env)
    try:
        async with connect(settings) as client:
            with anyio.fail_after(10):  # the read alone would hold the call for a minute
                result = await client.call_tool("ocr", {"source": str(tmp_path / "scan.png")})
    finally:
        release.set()
    assert result.is_error and "took longer than 0.5 s" in _text(result), _text(result)
