"""A real MCP client (the SDK's `Client`) against an installed `deepseek-mcp` console script over stdio.

Used by run.sh from a fresh venv that holds only the built wheel and its dependencies, so it imports nothing from
the checkout. Lists the tools in both protocol eras and, given a fake upstream, makes one `chat` call.

    python stdio_client.py /path/to/venv/bin/deepseek-mcp [--base-url URL --api-key KEY]
    python stdio_client.py --launch launch.json [--pass-env NAME ...]

`--launch` takes a host's resolved launch, {"command", "args", "env"} (an MCP Bundle's, from bundle_launch.mjs), and
starts exactly that, with only PATH and the `--pass-env` variables from this environment, as a host would; `chat` is
called when its env names a DEEPSEEK_BASE_URL. `--expect-error TEXT` calls `chat` and expects a tool error with TEXT
in it (a launch with a placeholder key: the server starts, and the tool says what to replace).

Prints one line per check and exits non-zero on the first mismatch.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

import anyio
from mcp import Client, StdioServerParameters
from mcp.client.stdio import stdio_client
from mcp.types import TextContent

TOOLS = {"chat", "reason", "ocr", "fim", "investigate", "review", "delegate", "web_search", "web_fetch", "list_models"}
TOOLS |= {"balance"}
ANSWER = "You said: hello (turn 1)"


async def check(
    command: str, args: list[str], mode: str, env: dict[str, str], call_chat: bool, errlog: Path, refusal: str
) -> list[str]:
    params = StdioServerParameters(command=command, args=args, env=env)
    with errlog.open("a") as err:
        async with Client(stdio_client(params, errlog=err), mode=mode) as client:
            era = f"{mode} ({client.protocol_version})"
            names = {tool.name for tool in (await client.list_tools()).tools}
            if names != TOOLS:
                raise SystemExit(f"{era}: tools/list gave {sorted(names)}, expected {sorted(TOOLS)}")
            lines = [f"{era}: tools/list -> {', '.join(sorted(names))}"]
            if refusal:
                result = await client.call_tool("chat", {"prompt": "hello"})
                text = " ".join(block.text for block in result.content if isinstance(block, TextContent))
                if not result.is_error or refusal not in text:
                    raise SystemExit(f"{era}: chat gave is_error={result.is_error} {text!r}, expected {refusal!r}")
                lines.append(f"{era}: tools/call chat -> error {text[:90]!r}...")
            elif call_chat:
                result = await client.call_tool("chat", {"prompt": "hello"})
                texts = [block.text for block in result.content if isinstance(block, TextContent)]
                if result.is_error or texts != [ANSWER]:
                    raise SystemExit(f"{era}: chat gave is_error={result.is_error} {texts!r}, expected [{ANSWER!r}]")
                lines.append(f"{era}: tools/call chat -> {texts[0]!r}")
    return lines


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("command", nargs="?", help="path to the installed deepseek-mcp console script")
    parser.add_argument("--launch", help="JSON file with a host's resolved launch: command, args, env")
    parser.add_argument("--pass-env", action="append", default=[], help="a variable to pass on (with --launch)")
    parser.add_argument("--base-url", help="fake upstream base URL (DEEPSEEK_BASE_URL); with it, chat is called")
    parser.add_argument("--api-key", default="", help="the fake upstream's key (DEEPSEEK_API_KEY)")
    parser.add_argument("--errlog", default=os.devnull, help="where the server's stderr goes")
    parser.add_argument("--expect-error", default="", help="call chat and expect a tool error with this text")
    args = parser.parse_args()
    env = {"PATH": os.environ.get("PATH", "")}
    command, command_args, call_chat = args.command, [], bool(args.base_url)
    if args.launch:
        launch = json.loads(Path(args.launch).read_text(encoding="utf-8"))
        command, command_args = launch["command"], launch["args"]
        env |= {name: os.environ[name] for name in args.pass_env if name in os.environ} | launch["env"]
        call_chat = bool(launch["env"].get("DEEPSEEK_BASE_URL"))
    elif args.base_url:
        env |= {"DEEPSEEK_BASE_URL": args.base_url, "DEEPSEEK_API_KEY": args.api_key}
    if not command:
        parser.error("give the console script's path or --launch")
    for mode in ("legacy", "auto"):  # 2025-11-25 handshake, then 2026-07-28
        for line in anyio.run(check, command, command_args, mode, env, call_chat, Path(args.errlog), args.expect_error):
            print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
