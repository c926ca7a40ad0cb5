"""`deepseek-mcp call TOOL key=value ...`: one tool call through the same server, in memory, from a shell."""

from __future__ import annotations

import json
import sys
from typing import Any, TextIO

import anyio
from mcp import Client
from mcp.types import CallToolResult, TextContent

from mcp_server.core.config import Settings
from mcp_server.core.errors import InputError
from mcp_server.server import build_server


def parse_arguments(pairs: list[str], schema: dict[str, Any] | None = None) -> dict[str, Any]:
    """`key=value` pairs. A parameter the tool declares as a string takes the value as it is written (`prompt=42`
    is the text "42"); any other value that parses as JSON (numbers, true, null, lists) is taken as such."""
    properties = (schema or {}).get("properties", {})
    arguments: dict[str, Any] = {}
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        if not sep or not key:
            raise InputError(f"expected key=value, got {pair!r}")
        if _is_text(properties.get(key)):
            arguments[key] = raw
            continue
        try:
            arguments[key] = json.loads(raw)
        except ValueError:
            arguments[key] = raw
    return arguments


def _is_text(prop: Any) -> bool:
    if not isinstance(prop, dict):
        return False
    types = prop.get("type")
    options = [o.get("type") for o in prop.get("anyOf", []) if isinstance(o, dict)]
    found = [types] if isinstance(types, str) else list(types or []) + options
    return "string" in found and not ({"integer", "number", "boolean", "array", "object"} & set(found))


def run(settings: Settings, tool: str, pairs: list[str], *, as_json: bool, out: TextIO | None = None) -> int:
    """Call `tool`; progress on stderr, the result on `out`. 0 on success, 1 on a tool error."""
    out = out or sys.stdout
    result = anyio.run(_call, settings, tool, pairs)
    if as_json:
        print(result.model_dump_json(by_alias=True, exclude_none=True, indent=2), file=out)
    else:
        for block in result.content:
            if isinstance(block, TextContent):
                kind = (block.meta or {}).get("deepseek-mcp/kind")
                if kind in ("reasoning", "notice"):
                    print(f"--- {kind} ---", file=out)
                print(block.text, file=out)
    return 1 if result.is_error else 0


async def _call(settings: Settings, tool: str, pairs: list[str]) -> CallToolResult:
    async def show(progress: float, total: float | None, message: str | None) -> None:
        print(f"\r\033[K{message or progress}", end="", file=sys.stderr, flush=True)

    async with Client(build_server(settings)) as client:
        schemas = {t.name: t.input_schema for t in (await client.list_tools()).tools}
        arguments = parse_arguments(pairs, schemas.get(tool))
        result = await client.call_tool(tool, arguments, progress_callback=show)
    print("\r\033[K", end="", file=sys.stderr, flush=True)
    return result
