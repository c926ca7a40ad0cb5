"""The shared state of a running server (opened and closed by the lifespan) and the helpers tools use to reach it."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from mcp.server import MCPServer
from mcp.server.mcpserver import Context

from mcp_server.config import Settings
from mcp_server.conversations import ConversationStore
from mcp_server.progress import ProgressReporter
from mcp_server.upstream.client import UpstreamClient
from mcp_server.upstream.providers import Router


@dataclass
class AppContext:
    settings: Settings
    router: Router
    upstream: UpstreamClient
    conversations: ConversationStore
    log_levels: dict[str, str] = field(default_factory=dict)  # owner -> level a client set with logging/setLevel


def lifespan_for(settings: Settings) -> Callable[[MCPServer[AppContext]], AbstractAsyncContextManager[AppContext]]:
    """A lifespan that opens one pooled upstream client for the life of the server, and closes it."""

    @asynccontextmanager
    async def lifespan(_: MCPServer[AppContext]) -> AsyncIterator[AppContext]:
        upstream = UpstreamClient(settings)
        try:
            yield AppContext(settings, Router(settings), upstream, ConversationStore(settings.limits))
        finally:
            await upstream.aclose()

    return lifespan


ToolContext = Context[AppContext, Any]


def app_of(ctx: ToolContext) -> AppContext:
    return ctx.request_context.lifespan_context


def owner_of(ctx: ToolContext) -> str:
    """Whose conversations a call may see: a digest of the HTTP bearer token, or "" over stdio."""
    return owner_from_headers(ctx.headers)


def owner_from_headers(headers: Mapping[str, str] | None) -> str:
    # The HTTP transport's BearerAuth has already checked the token, so its digest is an identity here.
    token = headers.get("authorization", "") if headers else ""
    return hashlib.sha256(token.encode()).hexdigest() if token else ""


CLIENT_LOG_LEVELS = ("debug", "info", "notice", "warning", "error", "critical", "alert", "emergency")


def reporter_for(ctx: ToolContext, label: str = "") -> ProgressReporter:
    """Progress for this call; its notices also reach the client as warnings if it asked for log messages."""
    wanted = app_of(ctx).log_levels.get(owner_of(ctx))

    async def log(text: str) -> None:
        if wanted is not None and CLIENT_LOG_LEVELS.index(wanted) <= CLIENT_LOG_LEVELS.index("warning"):
            await ctx.log("warning", text, logger_name="deepseek-mcp")

    return ProgressReporter(ctx.report_progress, label, log)
