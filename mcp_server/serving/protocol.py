"""Protocol features beyond tools and prompts: argument completion for the prompts, and `logging/setLevel` for
hosts on the 2025 protocol that show a server's log messages (retry notices reach them as warnings)."""

from __future__ import annotations

import itertools
import os
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import anyio
from mcp.server import MCPServer
from mcp.server.context import ServerRequestContext
from mcp.types import (
    CompleteRequestParams,
    CompleteResult,
    Completion,
    CompletionArgument,
    CompletionContext,
    EmptyResult,
    PromptReference,
    ResourceTemplateReference,
    SetLevelRequestParams,
)

from mcp_server.core import threads
from mcp_server.policy import home, secret_places
from mcp_server.policy.access import FileAccess
from mcp_server.serving.app import AppContext, owner_from_headers

MAX_COMPLETIONS = 100  # the spec's cap per response
FOCUS_AREAS = ("correctness", "concurrency", "security", "performance", "error handling", "tests", "readability")
DOCUMENT_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".gif", ".pdf", ".docx", ".pptx")
_MAX_SCANNED = 10_000
# A listing runs in a worker thread: a hung network or FUSE folder must not stop the event loop. Past this the
# suggestions are given up (empty) and the thread is left to finish on its own, holding one of its owner's threads.
LISTING_SECONDS = 2.0


Completer = Callable[
    [PromptReference | ResourceTemplateReference, CompletionArgument, CompletionContext | None],
    Awaitable[Completion | None],
]


def register(server: MCPServer[AppContext], files: FileAccess) -> None:
    complete = completer(files)

    async def on_completion(
        ctx: ServerRequestContext[AppContext, Any], params: CompleteRequestParams
    ) -> CompleteResult:
        # What the SDK's `completion()` decorator registers, with the caller's share of the worker threads around
        # it (as server.py sets around every tool call): a listing runs in a thread, and one token's flood of
        # completion requests on a large or slow folder must not take the threads every other token's calls need.
        owner = owner_from_headers(getattr(ctx.request, "headers", None))
        with threads.share(ctx.lifespan_context.threads_for(owner)):
            found = await complete(params.ref, params.argument, params.context)
        return CompleteResult(completion=found or Completion(values=[], total=None, has_more=None))

    # The SDK has no public hook for these on MCPServer; the low-level server's is the documented one.
    server._lowlevel_server.add_request_handler("completion/complete", CompleteRequestParams, on_completion)
    server._lowlevel_server.add_request_handler("logging/setLevel", SetLevelRequestParams, set_level)


def completer(files: FileAccess) -> Completer:
    """Suggestions for prompt arguments: review focus areas, and image/PDF paths the server may read (under the
    working directory, and only inside DEEPSEEK_MCP_FILE_ROOTS when it is set; none over HTTP without it)."""

    async def complete(
        ref: PromptReference | ResourceTemplateReference,
        argument: CompletionArgument,
        context: CompletionContext | None,
    ) -> Completion | None:
        if not isinstance(ref, PromptReference):
            return None
        if ref.name == "second_opinion" and argument.name == "focus":
            return _ranked([area for area in FOCUS_AREAS if area.startswith(argument.value.lower())])
        if ref.name == "document_to_markdown" and argument.name == "source":
            return _ranked(await _listed(argument.value, files))
        return None

    return complete


async def set_level(ctx: ServerRequestContext[AppContext, Any], params: SetLevelRequestParams) -> EmptyResult:
    owner = owner_from_headers(getattr(ctx.request, "headers", None))
    ctx.lifespan_context.log_levels[owner] = params.level
    return EmptyResult()


def _ranked(values: list[str]) -> Completion:
    return Completion(values=values[:MAX_COMPLETIONS], total=len(values), has_more=len(values) > MAX_COMPLETIONS)


async def _listed(prefix: str, files: FileAccess) -> list[str]:
    with anyio.move_on_after(LISTING_SECONDS):
        return await threads.run(_document_paths, prefix, files)  # abandoned on a stop, counted until it returns
    return []


def _document_paths(prefix: str, files: FileAccess) -> list[str]:
    """Files with an image, PDF, Word or PowerPoint suffix (and folders) whose path starts with `prefix`, relative
    to the cwd."""
    if not files.enabled or "\x00" in prefix:
        return []
    folder, _, stem = prefix.rpartition("/")
    base = Path(folder or ".")
    places = secret_places(home())  # names in a place where keys are kept are not listed either
    try:
        real = base.resolve(strict=True)
        if not files.inside(real) or places.holds(str(real)):
            return []
        with os.scandir(base) as listing:  # a folder of a million files is read no further than this
            entries = sorted(itertools.islice(listing, _MAX_SCANNED), key=lambda e: e.name)
    except (OSError, RuntimeError, ValueError):
        return []
    found: list[str] = []
    for entry in entries:
        if not entry.name.startswith(stem) or entry.name.startswith("."):
            continue
        path = f"{folder}/{entry.name}" if folder else entry.name
        if places.holds(f"{real}/{entry.name}"):
            continue
        if entry.is_dir():
            found.append(path + "/")
        elif entry.name.lower().endswith(DOCUMENT_SUFFIXES):
            found.append(path)
    return found
