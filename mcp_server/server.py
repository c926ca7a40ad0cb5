"""Builds the MCP server: lifespan, tool registration, nothing else."""

from __future__ import annotations

from mcp.server import MCPServer
from mcp.types import ToolAnnotations

from mcp_server import __version__
from mcp_server.app import AppContext, lifespan_for
from mcp_server.config import Settings
from mcp_server.tools import chat, models

INSTRUCTIONS = (
    "DeepSeek models as tools. chat: quick answers. reason: hard problems; returns the thinking trace and the answer "
    "as separate blocks. list_models: ids to pass as `model`. Pass conversation_id from a result to continue."
)

# Calls reach a third-party API (open world) but change nothing there or on this machine.
_CALLS_OUT = ToolAnnotations(read_only_hint=True, open_world_hint=True, idempotent_hint=False)


def build_server(settings: Settings) -> MCPServer[AppContext]:
    """The server for these settings; no network call happens until a tool is called."""
    server: MCPServer[AppContext] = MCPServer(
        "deepseek-mcp",
        version=__version__,
        instructions=INSTRUCTIONS,
        website_url="https://github.com/deepseek-mcp/deepseek-mcp",
        lifespan=lifespan_for(settings),
        log_level=settings.log_level,  # type: ignore[arg-type]  # validated against LOG_LEVELS in config
    )
    server.add_tool(chat.chat, title="DeepSeek chat", annotations=_CALLS_OUT)
    server.add_tool(chat.reason, title="DeepSeek reasoning", annotations=_CALLS_OUT)
    server.add_tool(
        models.list_models,
        title="DeepSeek models",
        annotations=ToolAnnotations(read_only_hint=True, open_world_hint=True, idempotent_hint=True),
    )
    return server
