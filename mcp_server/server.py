"""Builds the MCP server: lifespan, tool registration, nothing else."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

import anyio
from mcp.server import MCPServer
from mcp.server.mcpserver import Context
from mcp.server.mcpserver.exceptions import ToolError, UnexpectedToolError
from mcp.shared.exceptions import MCPError
from mcp.types import (
    INVALID_PARAMS,
    CallToolResult,
    GetPromptResult,
    InputRequiredResult,
    TextContent,
    ToolAnnotations,
)
from pydantic import ValidationError

from mcp_server import __version__
from mcp_server.core import threads
from mcp_server.core.config import CALL_SECONDS_ENV, Limits, Settings
from mcp_server.core.schema import input_schema, output_schema
from mcp_server.policy.access import FileAccess
from mcp_server.policy.redaction import Redactor
from mcp_server.serving import prompts, protocol
from mcp_server.serving.app import AppContext, lifespan_for, owner_from_headers
from mcp_server.serving.arguments import explain as arguments_error
from mcp_server.tools import account, chat, delegate, fim, investigate, models, review, web
from mcp_server.tools.ocr import parts as ocr_parts
from mcp_server.tools.ocr import tool as ocr

INSTRUCTIONS = (
    "DeepSeek models as tools. chat: quick answers. reason: hard problems; returns the thinking trace and the answer "
    "as separate blocks. ocr: images, PDFs, Word and PowerPoint files to markdown with layout boxes. fim: code "
    "completion between a prefix and a suffix. investigate: DeepSeek explores local code read-only and answers with "
    "citations checked on disk. review: a git change reviewed, each finding checked twice. web_search and "
    "web_fetch: the web through DeepSeek (it fetches, not this machine). delegate: DeepSeek makes a change in a "
    "scratch copy and returns a patch verified to apply, parse and pass the server's check. list_models: ids to pass "
    "as `model`. "
    "balance: what is left on the account and what this server spent. "
    "Pass conversation_id from a result to continue a conversation."
)

# Every tool reaches a third-party API (open world) but changes nothing there or on this machine; ocr also reads a
# local file the caller names, which its description says. No idempotentHint: the spec gives it meaning only for
# tools that are not read-only, so it would be bytes in every turn's context for nothing.
_CALLS_OUT = ToolAnnotations(read_only_hint=True, open_world_hint=True)
# delegate writes a scratch copy and runs the operator's check in it (never the user's files): not read-only, and
# only additive.
_WRITES_A_COPY = ToolAnnotations(read_only_hint=False, destructive_hint=False, open_world_hint=True)


log = logging.getLogger(__name__)


class _Server(MCPServer[AppContext]):
    """MCPServer with the protocol's error code for a bad prompt request (the SDK answers an internal error), one
    deadline for every tool call, a key variable's placeholder named by every tool, bad arguments said in one voice
    (serving/arguments.py), and one last guard on every tool error: no key in its message, and no crash reduced to
    "Error executing tool"."""

    redact: Redactor = Redactor(())
    call_seconds: float = Limits.call_seconds
    refusal: str | None = None  # a key variable still holds a placeholder: every tool says which (core/keys.py)

    async def call_tool(
        self, name: str, arguments: dict[str, Any], context: Context[AppContext, Any] | None = None
    ) -> CallToolResult | InputRequiredResult:
        if self.refusal is not None and self._tool_manager.get_tool(name) is not None:
            raise ToolError(f"Error executing tool {name}: {self.refusal}")
        context = context or Context(mcp_server=self, subscriptions=self._subscriptions)
        app = context.request_context.lifespan_context
        try:
            # Cancelling the call closes its upstream connection and frees its slot, whatever it was waiting for
            # (an upstream that sends keep-alives forever never trips DEEPSEEK_MCP_TIMEOUT). Its blocking work holds
            # its owner's share of the worker threads (core/threads.py).
            with (
                anyio.move_on_after(self.call_seconds),
                threads.share(app.threads_for(owner_from_headers(context.headers))),
            ):
                return self._redacted(await super().call_tool(name, arguments, context))
            raise ToolError(
                f"{name} took longer than {self.call_seconds:g} s, the most one call may take ({CALL_SECONDS_ENV}), "
                "so it was stopped and its upstream connection closed. Ask for less (a lower max_tokens or effort, "
                f"fewer pages or files), or raise {CALL_SECONDS_ENV}."
            )
        except UnexpectedToolError as exc:
            cause = exc.__cause__ or exc
            log.error("%s failed unexpectedly", name, exc_info=cause)
            raise ToolError(
                f"{name} failed inside deepseek-mcp ({type(cause).__name__}); the server keeps serving. This is a "
                "bug: please report it with the server's log (stderr, DEEPSEEK_MCP_LOG_LEVEL=DEBUG)."
            ) from None
        except ToolError as exc:
            if isinstance(exc.__cause__, ValidationError) and (tool := self._tool_manager.get_tool(name)) is not None:
                raise ToolError(self.redact(arguments_error(name, exc.__cause__, tool.parameters))) from None
            exc.args = tuple(self.redact(arg) if isinstance(arg, str) else arg for arg in exc.args)
            raise

    def _redacted(self, result: CallToolResult | InputRequiredResult) -> CallToolResult | InputRequiredResult:
        """A result with no configured key, nor any long run of one, in its text blocks and structured content: a model
        can repeat what it saw (~40 ms per MiB of text, figure in docs/security.md)."""
        if not isinstance(result, CallToolResult) or not self.redact:
            return result
        texts = [block.text for block in result.content if isinstance(block, TextContent)]
        if self.redact.untouched([*texts, *_json_strings(result.structured_content)]):
            return result  # nearly every result: one search, no copy
        done: dict[str, str] = {}  # the answer is in a block and in the structured content: redacted once

        def redact(text: str) -> str:
            if text not in done:
                done[text] = self.redact(text)
            return done[text]

        content = [
            block.model_copy(update={"text": redact(block.text)}) if isinstance(block, TextContent) else block
            for block in result.content
        ]
        structured = _redact_json(result.structured_content, redact)
        return result.model_copy(update={"content": content, "structured_content": structured})

    async def get_prompt(
        self, name: str, arguments: dict[str, Any] | None = None, context: Context[AppContext, Any] | None = None
    ) -> GetPromptResult | InputRequiredResult:
        if self._prompt_manager.get_prompt(name) is None:
            raise MCPError(code=INVALID_PARAMS, message=f"Unknown prompt: {name[:100]}")
        try:
            return await super().get_prompt(name, arguments, context)
        except ValueError as exc:  # the SDK reports missing or bad prompt arguments as a bare ValueError
            raise MCPError(code=INVALID_PARAMS, message=str(exc)) from exc


def _json_strings(value: Any) -> Iterator[str]:
    """Every string in `value` (JSON), keys too: what `_redact_json` would redact."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for key, item in value.items():
            if isinstance(key, str):
                yield key
            yield from _json_strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _json_strings(item)


def _redact_json(value: Any, redact: Callable[[str], str]) -> Any:
    """`value` (JSON: dicts, lists, strings, numbers) with every string redacted, keys too."""
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {redact(k) if isinstance(k, str) else k: _redact_json(v, redact) for k, v in value.items()}
    if isinstance(value, list):
        return [_redact_json(v, redact) for v in value]
    return value


def build_server(settings: Settings) -> MCPServer[AppContext]:
    """The server for these settings; no network call happens until a tool is called."""
    server = _Server(
        "deepseek-mcp",
        version=__version__,
        instructions=INSTRUCTIONS,
        lifespan=_sweeping(lifespan_for(settings), settings.scratch_dir),
        subscriptions=False,  # the tool and prompt lists never change, so promise no list_changed events
        log_level=settings.log_level,  # type: ignore[arg-type]  # validated against LOG_LEVELS in config
    )
    server.redact = Redactor(settings.secrets)
    server.call_seconds = settings.limits.call_seconds
    server.refusal = settings.refusal
    for fn, title, hints in TOOLS:
        server.add_tool(fn, title=title, description=_one_paragraph(fn.__doc__), annotations=hints)
    prompts.register(server)
    protocol.register(server, FileAccess.of(settings))
    ocr_parts.register(server)  # the resources a long ocr result's further pages are read from
    _compact_schemas(server)
    return server


def _sweeping(
    lifespan: Callable[[MCPServer[AppContext]], AbstractAsyncContextManager[AppContext]], scratch_dir: str | None
) -> Callable[[MCPServer[AppContext]], AbstractAsyncContextManager[AppContext]]:
    """The lifespan, after removing the scratch copies a crashed delegate left (only this user's, only those no live
    run holds: mcp_server/delegate/folders.py)."""

    @asynccontextmanager
    async def swept(server: MCPServer[AppContext]) -> AsyncIterator[AppContext]:
        from mcp_server.delegate.folders import sweep  # folders.py alone: the copy and the check load with a call

        await anyio.to_thread.run_sync(sweep, scratch_dir)
        async with lifespan(server) as app:
            yield app

    return swept


TOOLS: tuple[tuple[Callable[..., Any], str, ToolAnnotations], ...] = (
    (chat.chat, "Chat", _CALLS_OUT),
    (chat.reason, "Reasoning", _CALLS_OUT),
    (ocr.ocr, "DeepSeek-OCR", _CALLS_OUT),
    (fim.fim, "Code completion", _CALLS_OUT),
    (investigate.investigate, "Investigate", _CALLS_OUT),
    (review.review, "Review", _CALLS_OUT),
    (delegate.delegate, "Delegate", _WRITES_A_COPY),
    (web.web_search, "Web search", _CALLS_OUT),
    (web.web_fetch, "Web page", _CALLS_OUT),
    (models.list_models, "Models", _CALLS_OUT),
    (account.balance, "Balance", _CALLS_OUT),
)


def _one_paragraph(doc: str | None) -> str:
    """A docstring as the one-line description a model reads (indentation would cost context for nothing)."""
    return " ".join((doc or "").split())


def _compact_schemas(server: MCPServer[AppContext]) -> None:
    # The SDK reads these fields live; the pydantic models behind them still validate every call.
    for tool in server._tool_manager.list_tools():
        tool.parameters = input_schema(tool.parameters)
        if tool.fn_metadata.output_schema is not None:
            tool.fn_metadata.output_schema = output_schema(tool.fn_metadata.output_schema)
