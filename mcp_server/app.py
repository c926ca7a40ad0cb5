"""The shared state of a running server (opened and closed by the lifespan) and the helpers tools use to reach it."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
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
    headers = ctx.headers
    token = headers.get("authorization", "") if headers else ""
    return hashlib.sha256(token.encode()).hexdigest() if token else ""


def reporter_for(ctx: ToolContext, label: str = "") -> ProgressReporter:
    return ProgressReporter(ctx.report_progress, label)
