"""What a provider rule's match needs besides its shape: the secret's entropy, a digit, a checksum.

The secret is the rule's group (`group`), else the first group that took part, else the whole match. A checksum
is a proof no pattern can give: GitHub's tokens end in the CRC32 of their body, in base62, so a `ghp_` token
glued to other text (`x_ghp_...`, a colour code) is still known for one.
"""

from __future__ import annotations

import zlib
from typing import Any

from mcp_server.policy.judge import entropy
from mcp_server.policy.rules import Rule

_ALPHABET = b"abcdefghijklmnopqrstuvwxyz"  # betterleaks' global filter: no secret holds the alphabet in order
_BASE62 = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


def secret(rule: Rule, m: Any) -> bytes:
    """The part of a match that is the secret."""
    if rule.group and m.start(rule.group) >= 0:
        return bytes(m.group(rule.group))
    for group in range(1, (m.re.groups or 0) + 1):
        if m.start(group) >= 0:
            return bytes(m.group(group))
    return bytes(m.group())


def proven(rule: Rule, data: bytes, m: Any) -> bool:
    """Whether a provider rule's match is a credential by its own evidence."""
    value = secret(rule, m)
    if len(set(value)) < 3 or _ALPHABET in value.lower():  # a mask, or a placeholder (abcdefghij...xyz)
        return False
    if b"EXAMPLE" in value:  # documentation's own keys: AWS' AKIAIOSFODNN7EXAMPLE, wJalrXUtnFEMI/...EXAMPLEKEY
        return False
    if rule.entropy and entropy(value.decode("latin-1")) < rule.entropy:
        return False
    if rule.check == "digit":
        return any(48 <= c <= 57 for c in value)
    if rule.check == "github-crc32":
        return github_checksum(value) or not _glued(data, m.start())
    return True


def github_checksum(token: bytes) -> bool:
    """Whether a GitHub-style token (prefix_, 30 characters, 6 of base62 CRC32) carries its checksum; npm's too."""
    _, _, body = token.rpartition(b"_")
    if len(body) != 36:
        return False
    number = zlib.crc32(body[:30])
    digits = bytearray()
    while number:
        number, rest = divmod(number, 62)
        digits.append(_BASE62[rest])
    return bytes(reversed(digits)).rjust(6, b"0") == body[30:]


def _glued(data: bytes, start: int) -> bool:
    """Whether the character before a match is a letter or a digit (text the token is glued to)."""
    return start > 0 and chr(data[start - 1]).isalnum()
