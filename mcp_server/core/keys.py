"""API keys as they arrive from a host's MCP config: a key, nothing, a placeholder left in, or a reference to a
variable that the host did not expand.

A placeholder (`<your DeepSeek API key>`, `sk-...`, `YOUR_API_KEY`, words with spaces) is a set-up step not yet
done: the server still starts, so the host shows it connected, and every tool answers with what to replace and
where. An unexpanded reference (`${DEEPSEEK_API_KEY}`, `${env:...}`, `${{ secrets.... }}`) is the host's doing: the
variable is treated as unset (an optional key may well be unset), said at start-up and by `doctor`, and named by every
tool when it leaves no key at all. A real key that is malformed (a space or a control character inside) still stops
the server with one line that never echoes it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from mcp_server.core.errors import ConfigError

# A host that could not expand a variable passes the reference on as it is: Claude Code's `${VAR}` (with a
# warning only), Cursor's `${env:VAR}`, VS Code's `${input:id}`, Continue's `${{ secrets.VAR }}`.
UNEXPANDED = re.compile(r"\$\{\{?[^{}]*\}\}?|\$[A-Za-z_][A-Za-z0-9_]*")
# Whole values that only ever stand for a key: YOUR_API_KEY, your-key, xxxx, sk-xxxx, changeme, api_key_here ...
_STAND_INS = re.compile(
    r"(sk-)?(your([\W_].*)?|x{3,}|\*{3,}|change[-_ ]?me|replace[-_ ]?me|placeholder|(api[-_ ]?)?key[-_ ]?here"
    r"|api[-_]key)",
    re.IGNORECASE,
)
_KEY_LIKE = re.compile(r"[A-Za-z0-9]{12,}|[0-9]{4}")  # a run a key has and a placeholder's words do not
_WHERE = "in the host's MCP config (the `env` block of this server), or in the shell that starts it, then restart it"
_WHAT = {
    "DEEPSEEK_API_KEY": "your DeepSeek API key (platform.deepseek.com/api_keys)",
    "ATLASCLOUD_API_KEY": "your Atlas Cloud API key, or remove the variable (it is optional)",
    "DEEPSEEK_MCP_OPENAI_API_KEY": "your server's key, or remove the variable if the server needs none",
}


@dataclass(frozen=True)
class KeyProblem:
    """A key variable that holds no key: a placeholder left in, or a reference the host did not expand."""

    name: str
    shown: str  # the value as it may be printed: never anything that could be part of a key
    unexpanded: bool
    bracketed: bool = False  # `<...>` around it: perhaps a key pasted inside the placeholder's brackets

    def message(self) -> str:
        if self.unexpanded:
            return (
                f"{self.name} holds an unexpanded placeholder ({self.shown}), so it is treated as unset: the host did "
                "not expand it, because what it names is not set where the host runs. Export the variable in the "
                "environment the host starts from and restart the host, or paste the key itself in its place."
            )
        brackets = " (the key alone, without < >)" if self.bracketed else ""
        return (
            f"{self.name} is still a placeholder ({self.shown}), not a key: replace it with "
            f"{_WHAT.get(self.name, 'the key')}{brackets} {_WHERE}."
        )


def read_key(env: Mapping[str, str], name: str) -> tuple[str | None, KeyProblem | None]:
    """The key in `name`, or None with the problem when it holds a placeholder. Raises ConfigError for a malformed
    real key."""
    value = env.get(name, "").strip()
    if not value:
        return None, None
    if UNEXPANDED.fullmatch(value):
        return None, KeyProblem(name, value[:60], unexpanded=True)
    if is_placeholder(value):
        return None, KeyProblem(name, _shown(value), unexpanded=False, bracketed="<" in value or ">" in value)
    return check_secret(name, value), None


def refusal(problems: Sequence[KeyProblem], *, any_key: bool) -> str | None:
    """What every tool answers instead of running: a placeholder always, an unexpanded reference when no key is left."""
    placeholders = [p.message() for p in problems if not p.unexpanded]
    if placeholders:
        return " ".join(placeholders)
    if not any_key and problems:
        return " ".join(p.message() for p in problems)
    return None


def check_secret(name: str, value: str) -> str:
    """`value` stripped of surrounding whitespace, refused if anything inside cannot go in an HTTP header."""
    value = value.strip()
    if any(not ("!" <= char <= "~") for char in value):
        # The value is never quoted: a pasted key with a stray newline is still a key.
        raise ConfigError(
            f"{name} contains a space, a line break, a control or a non-ASCII character inside it; "
            "set it again to the key exactly as the provider's console shows it"
        )
    return value


def is_placeholder(value: str) -> bool:
    if "<" in value or ">" in value or "..." in value or "\u2026" in value or _STAND_INS.fullmatch(value):
        return True
    # Words with spaces ("paste your key here") are a placeholder; a key broken by a space or a line break has the
    # digits of a key in it and stays a malformed key (refused without being echoed).
    return any(char.isspace() for char in value) and not any(char.isdigit() for char in value)


def _shown(value: str) -> str:
    if len(value) > 60 or _KEY_LIKE.search(value):
        return "not shown: it may hold part of a key"
    return f"`{value}`"
