"""Which URLs may be handed to a provider that fetches them from inside the user's network (a self-hosted model
server): none that names a loopback, private, link-local, unique-local, shared or metadata address, unless the user
opts in with `DEEPSEEK_MCP_ALLOW_PRIVATE_URLS`. Public providers fetch from their own network; they are not asked.

The host is read as the fetching side would read it: IPv4 in any spelling `inet_aton` takes (`2130706433`,
`0x7f.1`, `0177.0.0.1`), IPv6 with its embedded IPv4 (mapped, 6to4, Teredo) checked too, and a name resolved here
(in a thread, within a bounded time) with every address it resolves to checked. A name that does not resolve here is
refused too: the server on the user's network could resolve it to anything.

What this cannot see: the self-hosted server resolves the name again when it fetches. A name whose DNS the caller
controls can answer a public address here and a private one there a moment later (DNS rebinding, TTL 0), whatever
the time between; pinning the address takes the fetching side. IP literals are checked exactly (docs/security.md).
"""

from __future__ import annotations

import ipaddress
import socket
from urllib.parse import urlsplit

import anyio

from mcp_server.core import threads
from mcp_server.core.config import ALLOW_PRIVATE_URLS_ENV
from mcp_server.core.errors import InputError
from mcp_server.core.quoting import clip

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
RESOLVE_SECONDS = 5.0
_LOCAL_NAMES = ("localhost", "metadata", "metadata.google.internal")


async def check_fetchable(url: str, *, allow_private: bool, resolve_seconds: float = RESOLVE_SECONDS) -> None:
    """Raise InputError when `url`'s host is, or resolves to, an address inside the user's network."""
    if allow_private:
        return
    host = (urlsplit(url).hostname or "").rstrip(".").lower()
    if not host:
        raise InputError("the URL has no host; pass a full http(s) URL")
    literal = ip_literal(host)
    if literal is not None:
        addresses = [literal]
    elif host in _LOCAL_NAMES or host.endswith((".localhost", ".internal", ".local")):
        raise _refusal(host, "a local or metadata name")
    else:
        addresses = await _resolve(host, resolve_seconds)
    for address in addresses:
        if not is_public(address):
            raise _refusal(host, f"{address}" if literal is not None else f"a name that resolves to {address}")


def ip_literal(host: str) -> IPAddress | None:
    """The address `host` spells, in any form a resolver takes as a number, or None for a name."""
    try:
        return ipaddress.ip_address(host.strip("[]").partition("%")[0])
    except ValueError:
        pass
    try:
        return ipaddress.IPv4Address(socket.inet_aton(host))  # 2130706433, 0x7f.1, 0177.0.0.1, 127.1
    except OSError:
        return None


def is_public(address: IPAddress) -> bool:
    """Whether `address` is globally routable, and so is any IPv4 address embedded in it."""
    if not address.is_global or address.is_multicast:
        return False
    if isinstance(address, ipaddress.IPv6Address):
        embedded = [address.ipv4_mapped, address.sixtofour, address.teredo[1] if address.teredo else None]
        return all(inner is None or is_public(inner) for inner in embedded)
    return True


async def _resolve(host: str, seconds: float) -> list[IPAddress]:
    try:
        with anyio.fail_after(seconds):
            found = await threads.run(socket.getaddrinfo, host, None)
    except (OSError, TimeoutError, UnicodeError):
        raise InputError(
            f"the URL's host {clip(host, 80)} could not be resolved here within {seconds:g} s, so it cannot be checked "
            f"before the self-hosted model server fetches it; pass a local path instead, or set "
            f"{ALLOW_PRIVATE_URLS_ENV}=1 to let that server fetch any URL"
        ) from None
    return [ipaddress.ip_address(str(info[4][0]).partition("%")[0]) for info in found]


def _refusal(host: str, what: str) -> InputError:
    return InputError(
        f"the URL's host {clip(host, 80)} is {what}, inside your network: the self-hosted model server would fetch it "
        f"from there. Pass the file as a local path instead, or set {ALLOW_PRIVATE_URLS_ENV}=1 to allow such URLs"
    )
