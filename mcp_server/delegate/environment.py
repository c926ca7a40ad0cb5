"""The check's environment: the server's own, with every key and token removed before the check starts.

Redacting a check's output is not enough: code the model wrote could print a key in any encoding. So a variable is
dropped when its name is this server's (DEEPSEEK_*, ATLASCLOUD_*: keys, tokens, a state URL's password), when its
name says it holds a credential (KEY, TOKEN, SECRET, PASSWORD, AUTH, COOKIE, SESSION ... : SSH_AUTH_SOCK and
agent sockets too), when its value holds one of the server's keys, or when the content scanner finds a secret in
`NAME=value` (a URL with a password, a private key, a provider's token under an innocent name). PATH is kept (or
set to the system's default), and the rest of the environment too, so a toolchain finds what it needs.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable

from mcp_server.policy.scan import Scanner

_OURS = ("DEEPSEEK_", "ATLASCLOUD_")
_CREDENTIAL = re.compile(
    r"KEY|TOKEN|SECRET|PASSW|PASSPHRASE|CREDENTIAL|AUTH|COOKIE|SESSION|PRIVATE|SIGNATURE|DSN|CONNECTION_STRING"
    r"|_PAT$|^PAT_|GPG_AGENT|SSH_AGENT",
    re.IGNORECASE,
)


def scrubbed(environment: Iterable[tuple[str, str]], secrets: tuple[str, ...], scanner: Scanner) -> dict[str, str]:
    """The environment the check runs in; see the module's docstring for what is removed."""
    kept: dict[str, str] = {}
    for name, value in environment:
        if _dropped(name, value, secrets, scanner):
            continue
        kept[name] = value
    kept.setdefault("PATH", os.defpath)
    return kept


def dropped_names(environment: Iterable[tuple[str, str]], secrets: tuple[str, ...], scanner: Scanner) -> list[str]:
    """The names of the variables the check does not get (for `doctor`: names only, never values)."""
    return sorted(name for name, value in environment if _dropped(name, value, secrets, scanner))


def _dropped(name: str, value: str, secrets: tuple[str, ...], scanner: Scanner) -> bool:
    if name.upper().startswith(_OURS) or _CREDENTIAL.search(name):
        return True
    if any(secret and secret in value for secret in secrets):
        return True
    return scanner.find(f"{name}={value}\n") is not None
