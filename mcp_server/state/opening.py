"""Which backend DEEPSEEK_MCP_STATE names, opened lazily: nothing touches the disk or the network before a call
needs state, so a store that is down never stops the server from starting."""

from __future__ import annotations

from pathlib import Path

from mcp_server.core.config import Settings
from mcp_server.state.base import Bounds, Store
from mcp_server.state.memory import MemoryStore


def open_store(settings: Settings) -> Store:
    """The store `settings.state` names: "memory", a redis:// or rediss:// URL, or a SQLite file's path."""
    bounds = Bounds.of(settings.limits)
    spec = settings.state
    if spec == "memory":
        return MemoryStore(bounds)
    if spec.startswith(("redis://", "rediss://")):
        from mcp_server.state.redis_store import RedisStore

        return RedisStore(spec, bounds)
    from mcp_server.state.sqlite import SqliteStore

    return SqliteStore(Path(spec), bounds)
