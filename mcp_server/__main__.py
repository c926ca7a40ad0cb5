"""Command line: `deepseek-mcp` serves MCP over stdio (what IDE hosts run)."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from mcp_server import __version__
from mcp_server.config import RedactingFilter, Settings
from mcp_server.errors import ConfigError


def configure_logging(settings: Settings) -> None:
    """Everything to stderr (stdout is the JSON-RPC wire), every key redacted whichever library logs it."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(RedactingFilter(settings.secrets))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(settings.log_level)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="deepseek-mcp", description="DeepSeek models as MCP tools.")
    parser.add_argument("--version", action="version", version=f"deepseek-mcp {__version__}")
    commands = parser.add_subparsers(dest="command")
    commands.add_parser("serve", help="serve MCP over stdio (the default)")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        settings = Settings.from_env()
    except ConfigError as exc:
        print(f"deepseek-mcp: {exc}", file=sys.stderr)
        return 2
    configure_logging(settings)
    from mcp_server.server import build_server  # imported after logging is set, so the SDK keeps our handler

    if args.command in (None, "serve"):
        build_server(settings).run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
