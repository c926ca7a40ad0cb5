"""A real MCP client (the SDK's `Client`) against an installed `deepseek-mcp` console script over stdio.

Used by run.sh from a fresh venv that holds only the built wheel and its dependencies, so it imports nothing from
the checkout. Lists the tools in both protocol eras and, given a fake upstream, makes one `chat` call.

    python stdio_client.py /path/to/venv/bin/deepseek-mcp [--base-url URL --api-key KEY]

Prints one line per check and exits non-zero on the first mismatch.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import anyio
from mcp import Client, StdioServerParameters
from mcp.client.stdio import stdio_client
from mcp.types import TextContent

TOOLS = {"chat", "reason", "ocr", "fim", "web_search", "web_fetch", "list_models", "balance"}
ANSWER = "You said: hello (turn 1)"


async def check(command: str, mode: str, env: dict[str, str], call_chat: bool, errlog: Path) -> list[str]:
    params = StdioServerParameters(command=command, env=env)
    with errlog.open("a") as err:
        async with Client(stdio_client(params, errlog=err), mode=mode) as client:
            era = f"{mode} ({client.protocol_version})"
            names = {tool.name for tool in (await client.list_tools()).tools}
            if names != TOOLS:
                raise SystemExit(f"{era}: tools/list gave {sorted(names)}, expected {sorted(TOOLS)}")
            lines = [f"{era}: tools/list -> {', '.join(sorted(names))}"]
            if call_chat:
                result = await client.call_tool("chat", {"prompt": "hello"})
                texts = [block.text for block in result.content if isinstance(block, TextContent)]
                if result.is_error or texts != [ANSWER]:
                    raise SystemExit(f"{era}: chat gave is_error={result.is_error} {texts!r}, expected [{ANSWER!r}]")
                lines.append(f"{era}: tools/call chat -> {texts[0]!r}")
    return lines


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("command", help="path to the installed deepseek-mcp console script")
    parser.add_argument("--base-url", help="fake upstream base URL (DEEPSEEK_BASE_URL); with it, chat is called")
    parser.add_argument("--api-key", default="", help="the fake upstream's key (DEEPSEEK_API_KEY)")
    parser.add_argument("--errlog", default=os.devnull, help="where the server's stderr goes")
    args = parser.parse_args()
    env = {"PATH": os.environ.get("PATH", "")}
    if args.base_url:
        env |= {"DEEPSEEK_BASE_URL": args.base_url, "DEEPSEEK_API_KEY": args.api_key}
    for mode in ("legacy", "auto"):  # 2025-11-25 handshake, then 2026-07-28
        for line in anyio.run(check, args.command, mode, env, bool(args.base_url), Path(args.errlog)):
            print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
