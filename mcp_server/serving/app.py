"""The shared state of a running server (opened and closed by the lifespan) and the helpers tools use to reach it."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import anyio
from mcp.server import MCPServer
from mcp.server.mcpserver import Context

from mcp_server.core.config import Settings
from mcp_server.policy.access import FileAccess
from mcp_server.policy.redaction import Redactor
from mcp_server.serving.progress import Heartbeats, ProgressReporter
from mcp_server.spending.budgets import Spending
from mcp_server.state import open_store
from mcp_server.state.conversations import ConversationStore
from mcp_server.upstream.catalog import ModelRow
from mcp_server.upstream.client import UpstreamClient
from mcp_server.upstream.listing import fetch_rows
from mcp_server.upstream.providers import Provider, Router

if TYPE_CHECKING:
    from mcp_server.media.budget import PixelBudget
    from mcp_server.media.renderer import Renderer

# Of anyio's 40 worker threads (shared by every call), how many one owner's blocking work may hold at once: walking
# and reading files, grep, opening OCR sources, checking citations (core/threads.py counts every thread, abandoned
# ones too, until it returns). One HTTP token then cannot take them all from the others.
THREADS_PER_OWNER = 8


@dataclass
class AppContext:
    settings: Settings
    router: Router
    upstream: UpstreamClient
    conversations: ConversationStore
    files: FileAccess
    spending: Spending
    redact: Redactor = field(default_factory=lambda: Redactor(()))  # what leaves outside a tool's result or error
    log_levels: dict[str, str] = field(default_factory=dict)  # owner -> level a client set with logging/setLevel
    heartbeats: Heartbeats = field(default_factory=Heartbeats)
    extras: dict[str, Any] = field(default_factory=dict)  # tools' own state, made on first use (tools/ocr_parts.py)
    _renderer: Renderer | None = None
    _threads: dict[str, anyio.CapacityLimiter] = field(default_factory=dict)

    def threads_for(self, owner: str) -> anyio.CapacityLimiter:
        """`owner`'s share of the worker threads: at most THREADS_PER_OWNER of its threads at once, each on
        anyio's shared pool. Owners are the configured tokens (one over stdio), so the dict stays as small as
        that list."""
        limiter = self._threads.get(owner)
        if limiter is None:
            limiter = self._threads[owner] = anyio.CapacityLimiter(THREADS_PER_OWNER)
        return limiter

    _decodes: PixelBudget | None = None

    def decodes(self) -> PixelBudget:
        """The server's one budget of pixels being decoded at once, made with the first image."""
        if self._decodes is None:
            from mcp_server.media.budget import PixelBudget

            self._decodes = PixelBudget(self.settings.limits.decode_pixels)
        return self._decodes

    def renderer(self) -> Renderer:
        """The PDF rendering workers, made on the first PDF (their module, and their processes, cost nothing
        before)."""
        if self._renderer is None:
            from mcp_server.media.renderer import Renderer

            self._renderer = Renderer(self.settings.limits.render_workers)
        return self._renderer

    async def aclose(self) -> None:
        if self._renderer is not None:
            await self._renderer.aclose()
        await self.upstream.aclose()
        await self.spending.store.aclose()

    @classmethod
    def open(cls, settings: Settings) -> AppContext:
        upstream = UpstreamClient(settings)

        async def lister(provider: Provider) -> list[ModelRow]:
            return await fetch_rows(upstream, provider, retry=False)

        store = open_store(settings)  # opened lazily: a store that is down does not stop the server
        return cls(
            settings,
            Router(settings, lister=lister),
            upstream,
            ConversationStore(settings.limits, store),
            FileAccess.of(settings),
            Spending(store, settings),
            Redactor(settings.secrets),
        )


def lifespan_for(settings: Settings) -> Callable[[MCPServer[AppContext]], AbstractAsyncContextManager[AppContext]]:
    """A lifespan that opens one pooled upstream client for the life of the server, and closes it; conversations
    are saved after their answers within it, and leaving it waits for the saves still pending."""

    @asynccontextmanager
    async def lifespan(_: MCPServer[AppContext]) -> AsyncIterator[AppContext]:
        app = AppContext.open(settings)
        try:
            async with app.conversations.running(), anyio.create_task_group() as tg:
                tg.start_soon(app.heartbeats.run)
                try:
                    yield app
                finally:
                    tg.cancel_scope.cancel()
        finally:
            await app.aclose()

    return lifespan


ToolContext = Context[AppContext, Any]


def app_of(ctx: ToolContext) -> AppContext:
    return ctx.request_context.lifespan_context


def owner_of(ctx: ToolContext) -> str:
    """Whose conversations a call may see: a digest of the HTTP bearer token, or "" over stdio."""
    return owner_from_headers(ctx.headers)


def owner_from_headers(headers: Mapping[str, str] | None) -> str:
    # The HTTP transport's BearerAuth has already checked the token, so its digest is an identity here; the
    # scheme's case and the spaces around the token are not part of it (`bearer T` is `Bearer T`).
    header = headers.get("authorization", "") if headers else ""
    token = header.strip().partition(" ")[2].strip()
    return hashlib.sha256(token.encode()).hexdigest() if token else ""


CLIENT_LOG_LEVELS = ("debug", "info", "notice", "warning", "error", "critical", "alert", "emergency")


def reporter_for(ctx: ToolContext, label: str = "", total: int | None = None) -> ProgressReporter:
    """Progress for this call; its notices also reach the client as warnings if it asked for log messages. Both are
    redacted as results are (server.py): they quote what the model wrote (a grep pattern, a finding's title), and a
    model can repeat what it read."""
    app = app_of(ctx)
    wanted = app.log_levels.get(owner_of(ctx))

    async def send(progress: float, total: float | None, message: str | None) -> None:
        await ctx.report_progress(progress, total, app.redact(message) if message else message)

    async def log(text: str) -> None:
        if wanted is not None and CLIENT_LOG_LEVELS.index(wanted) <= CLIENT_LOG_LEVELS.index("warning"):
            await ctx.log("warning", app.redact(text), logger_name="deepseek-mcp")

    return ProgressReporter(send, app.heartbeats, label, log, total)
