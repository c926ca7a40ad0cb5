"""`deepseek-mcp call TOOL key=value ...`: one tool call through the same server, in memory, from a shell.

Mistakes on the command line (a tool that does not exist, an argument that is not key=value, a parameter the tool
does not take or a required one left out, an unknown flag) are found before anything is sent, from the registered
tools' own schemas, and raised as UsageError: one line, exit 2. What the tool refuses comes back as its error, exit 1.
"""

from __future__ import annotations

import difflib
import json
import sys
import textwrap
from dataclasses import dataclass
from typing import Any, TextIO

import anyio
from mcp import Client
from mcp.types import CallToolResult, TextContent, Tool

from mcp_server.cli.usage import UsageError
from mcp_server.core.config import Settings
from mcp_server.server import build_server

USAGE = "usage: deepseek-mcp call TOOL [key=value ...] [--json]"
ABOUT = (
    "Calls one tool through the same server, in memory, with the keys of this environment. A text parameter takes "
    'its value as written (prompt=42 is the text 42); any other value is read as JSON (numbers, true, ["a", '
    '"b"]). Progress goes to stderr and the result to stdout, the whole of it as JSON with --json. Exit 0, 1 when '
    "the tool answers with an error, 2 on a mistake in the command line."
)


@dataclass(frozen=True)
class Command:
    """`call` as typed: flags may stand anywhere after `call`, the rest are the tool's arguments."""

    tool: str | None
    pairs: tuple[str, ...]
    as_json: bool = False
    help: bool = False


def read_command(tool: str | None, rest: list[str], *, help: bool, as_json: bool) -> Command:
    """The flags picked out of what followed the tool's name; an unknown flag is a UsageError."""
    pairs: list[str] = []
    for item in rest:
        if item in ("-h", "--help"):
            help = True
        elif item == "--json":
            as_json = True
        elif item.startswith("-") and "=" not in item:
            raise UsageError(f"no option {item[:40]!r}: call takes --json and --help, and arguments as key=value")
        else:
            pairs.append(item)
    if tool is not None and tool.startswith("-"):
        raise UsageError(f"no option {tool[:40]!r}: call takes --json and --help, then TOOL key=value ...")
    return Command(tool, tuple(pairs), as_json=as_json, help=help)


def help_text(tool: str | None) -> str:
    """`call --help` (every registered tool) or `call TOOL --help` (that tool's parameters)."""
    tools = registered(Settings())
    if tool is None:
        width = max(len(name) for name in tools)
        rows = [_wrapped(f"  {name.ljust(width)}  ", t.description or "") for name, t in tools.items()]
        more = "`deepseek-mcp call TOOL --help` lists a tool's parameters."
        return "\n".join([USAGE, "", textwrap.fill(ABOUT, 100), "", "tools:", *rows, "", more])
    found = _tool(tools, tool)
    required = " ".join(f"{name}=..." for name in found.input_schema.get("required", []))
    usage = f"usage: deepseek-mcp call {tool} {required + ' ' if required else ''}[key=value ...] [--json]"
    rows = [_parameter(name, prop, found) for name, prop in found.input_schema.get("properties", {}).items()]
    return "\n".join([usage, "", textwrap.fill(found.description or "", 100), "", "parameters:", *(rows or ["  none"])])


def registered(settings: Settings) -> dict[str, Tool]:
    """The tools the server offers, as tools/list shows them (no network: nothing is called)."""
    listed = anyio.run(build_server(settings).list_tools)
    return {tool.name: tool for tool in listed}


def arguments_for(command: Command, tools: dict[str, Tool]) -> dict[str, Any]:
    """The tool's arguments from `key=value` pairs, checked against its schema; a UsageError for anything that
    cannot be sent as typed."""
    assert command.tool is not None
    tool = _tool(tools, command.tool)
    schema = tool.input_schema
    properties: dict[str, Any] = schema.get("properties", {})
    arguments = parse_arguments(list(command.pairs), schema, tool=tool.name)
    for key in arguments:
        if key not in properties:
            taken = ", ".join(properties) or "none"
            raise UsageError(f"{tool.name} has no parameter {key!r}{_close(key, properties)}; its parameters: {taken}")
    missing = [name for name in schema.get("required", []) if name not in arguments]
    if missing:
        needed = ", ".join(f"{name}=..." for name in missing)
        raise UsageError(f"{tool.name} needs {needed} (see deepseek-mcp call {tool.name} --help)")
    return arguments


def parse_arguments(pairs: list[str], schema: dict[str, Any] | None = None, *, tool: str = "TOOL") -> dict[str, Any]:
    """`key=value` pairs. A parameter the tool declares as a string takes the value as it is written (`prompt=42`
    is the text "42"); any other value that parses as JSON (numbers, true, null, lists) is taken as such."""
    properties = (schema or {}).get("properties", {})
    arguments: dict[str, Any] = {}
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        if not sep or not key:
            first = next(iter((schema or {}).get("required", []) or properties), "key")
            example = f"{first}={pair.lstrip('=')}" if pair.lstrip("=") else f"{first}=..."
            raise UsageError(f"{pair[:60]!r} is not key=value; e.g. deepseek-mcp call {tool} {example[:80]}")
        if _is_text(properties.get(key)):
            arguments[key] = raw
            continue
        try:
            arguments[key] = json.loads(raw)
        except ValueError:
            arguments[key] = raw
    return arguments


def run(settings: Settings, command: Command, out: TextIO | None = None) -> int:
    """Call the tool; progress on stderr, the result on `out`. 0 on success, 1 on a tool error."""
    out = out or sys.stdout
    arguments = arguments_for(command, registered(settings))
    assert command.tool is not None
    result = anyio.run(_call, settings, command.tool, arguments)
    if command.as_json:
        print(result.model_dump_json(by_alias=True, exclude_none=True, indent=2), file=out)
        return 1 if result.is_error else 0
    labelled = False  # once a reasoning block is shown, every block after it says what it is
    for block in result.content:
        if isinstance(block, TextContent):
            kind = (block.meta or {}).get("deepseek-mcp/kind")
            labelled = labelled or kind == "reasoning"
            if kind == "notice" or (labelled and kind):
                print(f"--- {kind} ---", file=out)
            print(block.text, file=out)
    return 1 if result.is_error else 0


async def _call(settings: Settings, tool: str, arguments: dict[str, Any]) -> CallToolResult:
    async def show(progress: float, total: float | None, message: str | None) -> None:
        print(f"\r\033[K{message or progress}", end="", file=sys.stderr, flush=True)

    async with Client(build_server(settings)) as client:
        result = await client.call_tool(tool, arguments, progress_callback=show)
    print("\r\033[K", end="", file=sys.stderr, flush=True)
    return result


def _tool(tools: dict[str, Tool], name: str) -> Tool:
    if name not in tools:
        raise UsageError(f"no tool named {name[:60]!r}{_close(name, tools)}; the tools: {', '.join(tools)}")
    return tools[name]


def _close(name: str, known: Any) -> str:
    match = difflib.get_close_matches(name, list(known), n=1)
    return f" (did you mean {match[0]}?)" if match else ""


def _parameter(name: str, prop: dict[str, Any], tool: Tool) -> str:
    kind = "|".join(prop["enum"]) if "enum" in prop else str(prop.get("type", "any"))
    if kind == "array":
        kind = f"list of {prop.get('items', {}).get('type', 'values')}"
    facts = [kind]
    if "minimum" in prop or "maximum" in prop:
        facts.append(f"{prop.get('minimum', '')}-{prop.get('maximum', '')}")
    if name in tool.input_schema.get("required", []):
        facts.append("required")
    elif "default" in prop:
        facts.append(f"default {json.dumps(prop['default'])}")
    return _wrapped(f"  {name} ({', '.join(facts)})  ", prop.get("description", ""))


def _wrapped(head: str, text: str) -> str:
    indent = " " * min(len(head), 40)
    return textwrap.fill(text, 110, initial_indent=head, subsequent_indent=indent) if text else head.rstrip()


def _is_text(prop: Any) -> bool:
    if not isinstance(prop, dict):
        return False
    types = prop.get("type")
    options = [o.get("type") for o in prop.get("anyOf", []) if isinstance(o, dict)]
    found = [types] if isinstance(types, str) else list(types or []) + options
    return "string" in found and not ({"integer", "number", "boolean", "array", "object"} & set(found))
