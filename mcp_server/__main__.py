"""Command line. Bare `deepseek-mcp` serves MCP over stdio (what IDE hosts run); `serve --http`, `doctor` and
`call` are for people at a shell.

Importing this module loads nothing but argparse: PDF rendering workers re-import the main module when they start
(multiprocessing does that), and must not pay for the MCP SDK each time.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import os
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

from mcp_server import __version__

if TYPE_CHECKING:
    from mcp_server.core.config import Settings


def configure_logging(settings: Settings) -> None:
    """Everything to stderr (stdout is the JSON-RPC wire), every key redacted whichever library logs it."""
    from mcp_server.policy.redaction import RedactingFilter

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
    serve = commands.add_parser("serve", help="serve MCP over stdio (the default), or over HTTP with --http")
    serve.add_argument("--http", action="store_true", help="serve streamable HTTP at /mcp instead of stdio")
    serve.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    serve.add_argument("--port", type=int, default=8000, help="port to bind (default 8000)")
    serve.add_argument("--no-auth", action="store_true", help="loopback only: accept requests without a token")
    commands.add_parser("doctor", help="check keys, providers and defaults; exit 1 if anything fails")
    call = commands.add_parser("call", help="call one tool, e.g. `deepseek-mcp call chat prompt=hello`")
    call.add_argument("tool", help="tool name: chat, reason, ocr, fim, list_models, balance")
    call.add_argument("arguments", nargs="*", metavar="key=value", help="arguments; values may be JSON")
    call.add_argument("--json", action="store_true", help="print the whole result as JSON")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    from mcp_server.core.config import Settings
    from mcp_server.core.errors import DeepSeekMCPError

    args = parse_args(argv)
    try:
        settings = Settings.from_env()
        configure_logging(settings)
        for warning in settings.warnings:
            logging.getLogger("deepseek-mcp").warning("%s", warning)
        return _dispatch(args, settings)
    except DeepSeekMCPError as exc:
        print(f"deepseek-mcp: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


def _dispatch(args: argparse.Namespace, settings: Settings) -> int:
    if args.command == "doctor":
        from mcp_server.cli import doctor

        return doctor.run(settings, dict(os.environ))
    if args.command == "call":
        from mcp_server.cli import call

        return call.run(settings, args.tool, args.arguments, as_json=args.json)
    from mcp_server.server import build_server  # after logging is set, so the SDK keeps our handler

    if args.command == "serve" and args.http:
        _serve_http(args, settings)
    else:
        build_server(settings).run()
    return 0


def _serve_http(args: argparse.Namespace, settings: Settings) -> None:
    from mcp_server.server import build_server
    from mcp_server.serving import http

    settings = dataclasses.replace(settings, serves_http=True)
    options = http.HttpOptions(
        host=args.host,
        port=args.port,
        tokens=tuple(token.get_secret_value() for token in settings.http_tokens),
        no_auth=args.no_auth,
        allowed_hosts=_csv(os.environ.get(http.HOSTS_ENV, "")),
        allowed_origins=_csv(os.environ.get("DEEPSEEK_MCP_HTTP_ALLOWED_ORIGINS", "")),
        max_request_bytes=settings.limits.request_bytes,
    )
    http.check(options)  # refuse before anything is built or bound
    http.serve(build_server(settings), options, settings.log_level)


def _csv(raw: str) -> list[str]:
    return [part.strip() for part in raw.split(",") if part.strip()]


if __name__ == "__main__":
    sys.exit(main())
