"""Streamable HTTP transport for a shared or remote server: bearer token on every request, DNS-rebinding protection,
stateless so several instances can sit behind a load balancer.

`DEEPSEEK_MCP_HTTP_TOKEN` holds one token, or several separated by commas (one per person or team). Conversations
are keyed by a digest of the caller's token (see `app.owner_of`), so one token's conversations are invisible to
another. They live in the instance's memory: behind a load balancer, route a token to one instance (sticky
sessions) if callers continue conversations.
"""

from __future__ import annotations

import ipaddress
import logging
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from mcp.server import MCPServer
from mcp.server.transport_security import TransportSecuritySettings
from starlette.types import ASGIApp, Receive, Scope, Send

from mcp_server.errors import ConfigError

log = logging.getLogger(__name__)

TOKEN_ENV = "DEEPSEEK_MCP_HTTP_TOKEN"  # noqa: S105 - the name of the variable, not a token
_MIN_TOKEN_LENGTH = 16
_LOOPBACK_NAMES = ("localhost",)


@dataclass(frozen=True)
class HttpOptions:
    host: str = "127.0.0.1"
    port: int = 8000
    tokens: tuple[str, ...] = ()  # from DEEPSEEK_MCP_HTTP_TOKEN, comma-separated
    no_auth: bool = False  # loopback only: for local tools that cannot send a header
    allowed_hosts: Sequence[str] = ()  # extra Host header values (a public name behind a proxy)
    allowed_origins: Sequence[str] = ()


def is_loopback(host: str) -> bool:
    if host in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check(options: HttpOptions) -> None:
    """Refuse configurations that would expose the server: raises ConfigError saying what to set."""
    if options.no_auth:
        if options.tokens:
            raise ConfigError(f"--no-auth and {TOKEN_ENV} contradict each other; drop one.")
        if not is_loopback(options.host):
            raise ConfigError(f"--no-auth is allowed on a loopback address only, not {options.host}.")
        return
    if not options.tokens:
        where = "" if is_loopback(options.host) else f" before binding {options.host}"
        raise ConfigError(
            f"Set {TOKEN_ENV}{where}: every HTTP request must carry it as 'Authorization: Bearer <token>'. "
            f'For example: export {TOKEN_ENV}="$(python3 -c "import secrets; print(secrets.token_urlsafe(32))")". '
            "For a loopback-only test server, --no-auth turns the check off."
        )
    if any(len(token) < _MIN_TOKEN_LENGTH for token in options.tokens):
        raise ConfigError(f"A token in {TOKEN_ENV} is too short: use at least {_MIN_TOKEN_LENGTH} random characters.")


def security_settings(options: HttpOptions) -> TransportSecuritySettings:
    """DNS-rebinding protection: only the Host and Origin values this server is reached by."""
    if is_loopback(options.host):
        hosts = ["127.0.0.1:*", "localhost:*", "[::1]:*"]
        origins = ["http://127.0.0.1:*", "http://localhost:*", "http://[::1]:*"]
    else:
        hosts = [options.host, f"{options.host}:*"]
        origins = [f"http://{options.host}:*", f"https://{options.host}:*"]
    return TransportSecuritySettings(
        enable_dns_rebinding_protection=True,
        allowed_hosts=[*hosts, *options.allowed_hosts],
        allowed_origins=[*origins, *options.allowed_origins],
    )


def parse_tokens(raw: str) -> tuple[str, ...]:
    return tuple(token.strip() for token in raw.split(",") if token.strip())


class BearerAuth:
    """ASGI middleware: every HTTP request must carry one of the tokens; compared in constant time."""

    def __init__(self, app: ASGIApp, tokens: tuple[str, ...]) -> None:
        self._app = app
        self._expected = tuple(f"Bearer {token}".encode() for token in tokens)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or self._authorized(scope):
            await self._app(scope, receive, send)
            return
        await _unauthorized(send)

    def _authorized(self, scope: Scope) -> bool:
        for name, value in scope.get("headers", ()):
            if name == b"authorization":
                # Compare against every token so the time taken does not say which one nearly matched.
                return sum(secrets.compare_digest(value, expected) for expected in self._expected) > 0
        return False


async def _unauthorized(send: Send) -> None:
    body = b'{"error":"unauthorized","message":"send Authorization: Bearer <DEEPSEEK_MCP_HTTP_TOKEN>"}'
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        (b"www-authenticate", b'Bearer realm="deepseek-mcp"'),
    ]
    await send({"type": "http.response.start", "status": 401, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def build_app(server: MCPServer[Any], options: HttpOptions) -> ASGIApp:
    """The ASGI app serving MCP at /mcp, checked by `check` first."""
    check(options)
    app = server.streamable_http_app(
        stateless_http=True, transport_security=security_settings(options), host=options.host
    )
    if options.no_auth:
        log.warning("serving without authentication on %s (--no-auth)", options.host)
        return app
    return BearerAuth(app, options.tokens)


def serve(server: MCPServer[Any], options: HttpOptions, log_level: str) -> None:
    """Run the app under uvicorn until interrupted."""
    import uvicorn  # only HTTP mode pays for it

    app = build_app(server, options)
    config = uvicorn.Config(app, host=options.host, port=options.port, log_level=log_level.lower(), log_config=None)
    uvicorn.Server(config).run()
