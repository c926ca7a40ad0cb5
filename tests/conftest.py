"""Shared fixtures: fake upstreams on 127.0.0.1, settings that point at them, and MCP clients in both eras."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
from mcp import Client

from mcp_server.core.config import Settings
from mcp_server.media.renderer import Renderer
from mcp_server.server import build_server
from tests.fake_upstream import FakeUpstream

# Recognisable keys: every leak test greps for these.
DEEPSEEK_KEY = "sk-test-DEEPSEEK-6f1c0e2b9a7d4c3e8b1a"
ATLAS_KEY = "apikey-test-ATLAS-0d9e8c7b6a5f4e3d"
MODES = ("auto", "legacy")  # 2026-07-28 (server/discover) and 2025-11-25 (initialize)


@pytest.fixture(scope="session", autouse=True)
def _private_state(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Servers the tests start with the process environment keep state in memory, and any default state folder
    is a temporary one, never the user's."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DEEPSEEK_MCP_STATE", "memory")
        patch.setenv("XDG_STATE_HOME", str(tmp_path_factory.mktemp("xdg-state")))
        yield


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def deepseek() -> Iterator[FakeUpstream]:
    with FakeUpstream("deepseek", api_key=DEEPSEEK_KEY) as fake:
        yield fake


@pytest.fixture
def atlas() -> Iterator[FakeUpstream]:
    with FakeUpstream("atlas", api_key=ATLAS_KEY) as fake:
        yield fake


def upstream_env(deepseek: FakeUpstream | None = None, atlas: FakeUpstream | None = None) -> dict[str, str]:
    """The environment a user would set to point the server at these upstreams."""
    env: dict[str, str] = {}
    if deepseek is not None:
        env |= {"DEEPSEEK_API_KEY": deepseek.api_key, "DEEPSEEK_BASE_URL": deepseek.base_url}
    if atlas is not None:
        env |= {"ATLASCLOUD_API_KEY": atlas.api_key, "ATLASCLOUD_BASE_URL": atlas.base_url}
    return env


def make_settings(
    deepseek: FakeUpstream | None = None,
    atlas: FakeUpstream | None = None,
    env: dict[str, str] | None = None,
    **overrides: Any,
) -> Settings:
    """Settings for tests: real parsing of a real environment, then short retry delays so tests stay fast."""
    # State in memory unless a test names a store: the default file would be the user's own, shared across tests.
    settings = Settings.from_env({"DEEPSEEK_MCP_STATE": "memory"} | upstream_env(deepseek, atlas) | (env or {}))
    fast = {"retry_base_delay": 0.01, "retry_max_delay": 0.05, "retry_after_cap": 2.0}
    return dataclasses.replace(settings, **(fast | overrides))


@asynccontextmanager
async def connect(settings: Settings, mode: str = "auto", **options: Any) -> AsyncIterator[Client]:
    """An in-memory MCP client on a server built from `settings`; `options` go to the SDK's Client."""
    async with Client(build_server(settings), mode=mode, **options) as client:  # type: ignore[arg-type]
        yield client


@asynccontextmanager
async def rendering(workers: int = 2) -> AsyncIterator[Renderer]:
    """PDF rendering workers for one test (each test runs its own event loop, and workers belong to one)."""
    renderer = Renderer(workers)
    try:
        yield renderer
    finally:
        await renderer.aclose()


@pytest.fixture(params=MODES)
def mode(request: pytest.FixtureRequest) -> str:
    return str(request.param)
