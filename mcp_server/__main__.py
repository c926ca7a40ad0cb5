"""Command line. Bare `deepseek-mcp` serves MCP over stdio (what IDE hosts run); `serve --http`, `doctor` and
`call` are for people at a shell.

Importing this module loads nothing but argparse: PDF rendering workers re-import the main module when they start
(multiprocessing does that), and must not pay for the MCP SDK each time.
"""

from __future__ import annotations

import argparse
import logging
import os
import re
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, NoReturn

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


class _Parser(argparse.ArgumentParser):
    """argparse with every usage mistake as one line and exit 2: the usage block and "error:" are noise at a shell."""

    def error(self, message: str) -> NoReturn:
        choice = re.fullmatch(r"argument \{.*\}: invalid choice: (.*) \(choose from (.*)\)", message)
        if choice:
            message = f"no command {choice[1]}; the commands: {choice[2]}".replace("'", "")
        elif message.startswith("unrecognized arguments"):
            message += "; an option goes after the command it belongs to"
        self.exit(2, f"{self.prog}: {message} (see {self.prog} --help)\n")


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    about = "DeepSeek's models as MCP tools. Without a command: serve MCP over stdio, which is what hosts run."
    parser = _Parser(prog="deepseek-mcp", description=about)
    parser.add_argument("--version", action="version", version=f"deepseek-mcp {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="{serve,doctor,call}", parser_class=_Parser)
    about = "serve MCP over stdio (what hosts run; the default), or over HTTP with --http"
    serve = commands.add_parser("serve", help=about, description=about)
    serve.add_argument("--http", action="store_true", help="serve streamable HTTP at /mcp instead of stdio")
    serve.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    serve.add_argument("--port", type=int, default=8000, help="port to bind (default 8000)")
    serve.add_argument("--no-auth", action="store_true", help="loopback only: accept requests without a token")
    about = "check keys, providers, defaults and the state store; exit 1 if anything fails"
    commands.add_parser("doctor", help=about, description=about)
    about = "call one tool through the same server, e.g. `deepseek-mcp call chat prompt=hello`"
    # Help and --json are read by cli/call.py wherever they stand: `call chat --help` lists chat's parameters, and
    # `call investigate --json question=...` is what people type. Its help is built from the registered tools.
    call = commands.add_parser("call", help=about, description=about, add_help=False)
    call.add_argument("-h", "--help", action="store_true")
    call.add_argument("--json", action="store_true")
    call.add_argument("tool", nargs="?")
    call.add_argument("arguments", nargs=argparse.REMAINDER)
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)  # first: --version and usage mistakes answer before anything heavy is imported
    from mcp_server.cli.usage import UsageError
    from mcp_server.core.config import Settings
    from mcp_server.core.errors import DeepSeekMCPError

    try:
        if args.command == "call":
            from mcp_server.cli import call

            args.call = call.read_command(args.tool, args.arguments, help=args.help, as_json=args.json)
            if args.call.help or args.call.tool is None:
                print(call.help_text(args.call.tool))
                return 0
        settings = Settings.from_env()
        configure_logging(settings)
        for warning in settings.warnings:
            logging.getLogger("deepseek-mcp").warning("%s", warning)
        return _dispatch(args, settings)
    except UsageError as exc:
        print(f"deepseek-mcp {args.command}: {exc}", file=sys.stderr)
        return 2
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

        return call.run(settings, args.call)
    from mcp_server.server import build_server  # after logging is set, so the SDK keeps our handler

    if args.command == "serve" and args.http:
        _serve_http(args, settings)
    else:
        build_server(settings).run()
    return 0


def _serve_http(args: argparse.Namespace, settings: Settings) -> None:
    import dataclasses  # here: `--version` need not pay for it (it brings inspect)

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
