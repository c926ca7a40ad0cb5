"""Streamable HTTP transport for a shared or remote server: bearer token on every request, DNS-rebinding protection,
stateless so several instances can sit behind a load balancer.

`DEEPSEEK_MCP_HTTP_TOKEN` holds one token, or several separated by commas (one per person or team). Conversations
and spending are keyed by a digest of the caller's token (see `app.owner_of`), so one token's are invisible to
another. They live in the state store (`DEEPSEEK_MCP_STATE`): with Redis, any replica behind a load balancer
continues any conversation (docs/team.md); with a file or memory, only the processes sharing it.
"""

from __future__ import annotations

import ipaddress
import json
import logging
import secrets
import socket
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from mcp.server import MCPServer
from mcp.server.transport_security import TransportSecuritySettings
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from mcp_server.core.config import HTTP_TOKEN_ENV, REQUEST_BYTES_ENV, Limits
from mcp_server.core.errors import ConfigError

log = logging.getLogger(__name__)

TOKEN_ENV = HTTP_TOKEN_ENV
HOSTS_ENV = "DEEPSEEK_MCP_HTTP_ALLOWED_HOSTS"
_MIN_TOKEN_LENGTH = 16
_LOOPBACK_NAMES = ("localhost",)
_LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "[::1]")
_WILDCARDS = ("0.0.0.0", "::", "[::]", "")  # noqa: S104 - names of the wildcard addresses, to recognise them


@dataclass(frozen=True)
class HttpOptions:
    host: str = "127.0.0.1"
    port: int = 8000
    tokens: tuple[str, ...] = ()  # from DEEPSEEK_MCP_HTTP_TOKEN, comma-separated
    no_auth: bool = False  # loopback only: for local tools that cannot send a header
    allowed_hosts: Sequence[str] = ()  # extra Host header values (a public name behind a proxy)
    allowed_origins: Sequence[str] = ()
    max_request_bytes: int = Limits.request_bytes  # DEEPSEEK_MCP_MAX_REQUEST_BYTES


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


def own_names(host: str) -> list[str]:
    """The names and addresses a client may put in `Host` to reach a server bound to `host`.

    A wildcard bind (0.0.0.0, ::) listens on every interface, so the machine's own host name, its fully qualified
    name and the addresses they resolve to are accepted next to loopback; a name behind a proxy still needs
    DEEPSEEK_MCP_HTTP_ALLOWED_HOSTS.
    """
    if is_loopback(host):
        return list(_LOOPBACK_HOSTS)
    if host not in _WILDCARDS:
        return [f"[{host}]" if ":" in host else host]
    names = {socket.gethostname(), socket.getfqdn()}
    for name in list(names):
        try:
            names.update(str(info[4][0]) for info in socket.getaddrinfo(name, None))
        except OSError:  # a host name that does not resolve adds no address
            continue
    found = [f"[{name}]" if ":" in name else name for name in sorted(n for n in names if n)]
    return [*_LOOPBACK_HOSTS, *(name for name in found if name not in _LOOPBACK_HOSTS)]


def security_settings(options: HttpOptions) -> TransportSecuritySettings:
    """DNS-rebinding protection: only the Host and Origin values this server is reached by."""
    names = own_names(options.host)
    hosts = [form for name in names for form in (name, f"{name}:*")]
    origins = [f"{scheme}://{name}:*" for name in names for scheme in ("http", "https")]
    origins += [f"{scheme}://{name}" for name in names for scheme in ("http", "https")]
    return TransportSecuritySettings(
        enable_dns_rebinding_protection=True,
        allowed_hosts=[*hosts, *options.allowed_hosts],
        allowed_origins=[*origins, *options.allowed_origins],
    )


class BearerAuth:
    """ASGI middleware: every HTTP request must carry one of the tokens; compared in constant time.

    The scheme is case-insensitive (RFC 7235: `bearer` and `BEARER` are `Bearer`). Only `http` and `lifespan`
    scopes exist for this app: anything else (a websocket) is refused rather than passed on unchecked.
    """

    def __init__(self, app: ASGIApp, tokens: tuple[str, ...]) -> None:
        self._app = app
        self._expected = tuple(token.encode() for token in tokens)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan" or (scope["type"] == "http" and self._authorized(scope)):
            await self._app(scope, receive, send)
        elif scope["type"] == "http":
            await _unauthorized(send)
        else:
            await refuse_scope(scope, send)

    def _authorized(self, scope: Scope) -> bool:
        for name, value in scope.get("headers", ()):
            if name == b"authorization":
                scheme, _, token = bytes(value).strip().partition(b" ")
                token = token.strip()
                # Compare against every token so the time taken does not say which one nearly matched.
                matches = sum(secrets.compare_digest(token, expected) for expected in self._expected)
                return scheme.lower() == b"bearer" and matches > 0
        return False


class HttpOnly:
    """ASGI middleware for --no-auth: still refuse scopes the app does not serve (websockets)."""

    def __init__(self, app: ASGIApp) -> None:
        self._app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "lifespan"):
            await self._app(scope, receive, send)
        else:
            await refuse_scope(scope, send)


async def refuse_scope(scope: Scope, send: Send) -> None:
    if scope["type"] == "websocket":
        await send({"type": "websocket.close", "code": 1008, "reason": "MCP is served over HTTP POST at /mcp"})
    # Any other scope type gets nothing: the server does not speak it.


async def _unauthorized(send: Send) -> None:
    body = b'{"error":"unauthorized","message":"send Authorization: Bearer <DEEPSEEK_MCP_HTTP_TOKEN>"}'
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        (b"www-authenticate", b'Bearer realm="deepseek-mcp"'),
    ]
    await send({"type": "http.response.start", "status": 401, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class ExplainedBodyLimit:
    """ASGI middleware: the SDK's own request-body limit (set to DEEPSEEK_MCP_MAX_REQUEST_BYTES) answers a bare
    `413 Request body too large`; this turns it into a JSON-RPC error naming the limit and the variable, which the
    SDK's client surfaces to its caller as the error of the request that was too large.

    The SDK enforces the limit as the body streams in (a declared Content-Length over it is refused before a byte
    of the body is read; an undeclared one as soon as the bytes received pass it), so nothing here reads a body.
    """

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self._app = app
        self._body = _too_large_body(limit)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        replaced = False

        async def explain(message: Message) -> None:
            nonlocal replaced
            if message["type"] == "http.response.start" and message["status"] == 413:
                replaced = True
                headers = [(b"content-type", b"application/json"), (b"content-length", str(len(self._body)).encode())]
                await send({"type": "http.response.start", "status": 413, "headers": headers})
                await send({"type": "http.response.body", "body": self._body})
            elif not replaced:
                await send(message)

        await self._app(scope, receive, explain)


def _too_large_body(limit: int) -> bytes:
    message = (
        f"The request body is larger than {limit:,} bytes ({limit / 2**20:.0f} MiB), the most this server accepts "
        f"({REQUEST_BYTES_ENV}). Send less (an OCR source is at most 32 MiB, about 43 MiB as base64), or raise "
        f"{REQUEST_BYTES_ENV} where the server runs."
    )
    error = {"jsonrpc": "2.0", "id": None, "error": {"code": -32600, "message": message}}
    return json.dumps(error).encode()


def build_app(server: MCPServer[Any], options: HttpOptions) -> ASGIApp:
    """The ASGI app serving MCP at /mcp, checked by `check` first."""
    check(options)
    app: ASGIApp = server.streamable_http_app(
        stateless_http=True,
        transport_security=security_settings(options),
        host=options.host,
        max_request_body_size=options.max_request_bytes,
    )
    app = ExplainedBodyLimit(app, options.max_request_bytes)
    log.info("accepting Host values: %s", ", ".join(own_names(options.host) + list(options.allowed_hosts)))
    if options.no_auth:
        log.warning("serving without authentication on %s (--no-auth)", options.host)
        return HttpOnly(app)
    return BearerAuth(app, options.tokens)


def serve(server: MCPServer[Any], options: HttpOptions, log_level: str) -> None:
    """Run the app under uvicorn until interrupted."""
    import uvicorn  # only HTTP mode pays for it

    app = build_app(server, options)
    config = uvicorn.Config(app, host=options.host, port=options.port, log_level=log_level.lower(), log_config=None)
    uvicorn.Server(config).run()
