"""Builds the MCP server: lifespan, tool registration, nothing else."""

from __future__ import annotations

from mcp.server import MCPServer
from mcp.types import ToolAnnotations

from mcp_server import __version__, prompts
from mcp_server.app import AppContext, lifespan_for
from mcp_server.config import Settings
from mcp_server.tools import account, chat, fim, models, ocr

INSTRUCTIONS = (
    "DeepSeek models as tools. chat: quick answers. reason: hard problems; returns the thinking trace and the answer "
    "as separate blocks. ocr: images and PDFs to markdown with layout boxes. fim: code completion between a prefix "
    "and a suffix. list_models: ids to pass as `model`. balance: what is left on the account. "
    "Pass conversation_id from a result to continue a conversation."
)

# Calls reach a third-party API (open world) but change nothing there or on this machine.
_CALLS_OUT = ToolAnnotations(read_only_hint=True, open_world_hint=True, idempotent_hint=False)
# ocr reads a local file the caller names, then sends it out: still read-only, and said so in its description.
_READS_FILES = ToolAnnotations(read_only_hint=True, open_world_hint=True, idempotent_hint=True)
_LOOKS_UP = ToolAnnotations(read_only_hint=True, open_world_hint=True, idempotent_hint=True)


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
    server.add_tool(ocr.ocr, title="DeepSeek-OCR", annotations=_READS_FILES)
    server.add_tool(fim.fim, title="DeepSeek code completion (FIM)", annotations=_CALLS_OUT)
    server.add_tool(models.list_models, title="DeepSeek models", annotations=_LOOKS_UP)
    server.add_tool(account.balance, title="DeepSeek balance", annotations=_LOOKS_UP)
    prompts.register(server)
    return server
