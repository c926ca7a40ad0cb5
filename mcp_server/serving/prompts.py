"""MCP prompts (hosts show them as slash commands): a few that save a user typing a tool request by hand."""

from __future__ import annotations

import json
from typing import Annotated, Any

from mcp.server import MCPServer
from pydantic import Field


def second_opinion(
    diff: Annotated[str, Field(description="The diff or code to review.")],
    focus: Annotated[str, Field(description="What to look at hardest, e.g. concurrency or security.")] = "",
    files: Annotated[str, Field(description="Paths of files or folders the diff touches, comma-separated.")] = "",
) -> str:
    """Ask DeepSeek's thinking model for a second opinion on a diff."""
    focus_line = f" Pay most attention to: {focus}." if focus else ""
    paths = [path.strip() for path in files.split(",") if path.strip()]
    context = (
        f"Pass `files`: {json.dumps(paths)} (the server reads them from disk; do not paste their contents), and"
        if paths
        else "If the review needs the code around the diff, pass its paths in `files` rather than pasting it, and"
    )
    return (
        f"Call the `reason` tool (effort high). {context} give it a prompt asking it to review the diff below as a "
        "senior engineer: find bugs, regressions, missing tests and risky changes, most serious first, each with the "
        f"line it concerns.{focus_line} Then compare its findings with your own view and tell me where you agree and "
        f"disagree.\n\n```diff\n{diff}\n```"
    )


def document_to_markdown(
    source: Annotated[str, Field(description="Path, URL or data: URL of an image or PDF.")],
    pages: Annotated[str, Field(description="PDF pages, e.g. 1-3,7 (all when empty).")] = "",
) -> str:
    """Turn an image or PDF into markdown with DeepSeek-OCR."""
    pages_arg = f', "pages": "{pages}"' if pages else ""
    return (
        f'Call the `ocr` tool with {{"source": "{source}", "mode": "markdown"{pages_arg}}} and show me the markdown it '
        "returns, keeping tables and headings as they are."
    )


def register(server: MCPServer[Any]) -> None:
    server.prompt(title="Second opinion on a diff")(second_opinion)
    server.prompt(title="Document to markdown")(document_to_markdown)
