"""Keeping keys out of everything the server writes: tool results, errors and every log record.

A key can surface in more than its plain form: `repr()` of a header (`b'Bearer sk-...'`), a JSON string, an
exception message quoting either. Keys are validated as printable ASCII when settings are read, so these forms
differ from the plain one only in escaped quotes and backslashes; all of them are replaced.

A key can also surface in part: an upstream that echoes a clipped key, a body cut at a byte cap, a message clipped
in the middle. So every run of text made of pieces of at least `FRAGMENT` characters of a key (in any of its forms)
is replaced, not only the whole key. The search is one regex built as a trie of the key's `FRAGMENT`-grams: at
each position of the text it compares at most `FRAGMENT` characters, so it is linear in the text, at C speed (1 MB
of text in bench/redaction.py); only a run that does match is extended character by character.
"""

from __future__ import annotations

import json
import logging
import re

MARKER = "[redacted]"
FRAGMENT = 8  # no run of this many characters of a key is ever written; shorter ones say nothing useful about it
# What the server prints on its own: a piece of a key that is also a piece of these (a test key such as
# `sk-test-DEEPSEEK-...` holds `DEEPSEEK`) is public, and replacing it would blank out every message that names
# DEEPSEEK_API_KEY. Only whole 8-character pieces found here are spared; the key around them is still replaced.
PUBLIC = (
    "DEEPSEEK_API_KEY",
    "DEEPSEEK_BASE_URL",
    "DEEPSEEK_MCP_",
    "ATLASCLOUD_API_KEY",
    "ATLASCLOUD_BASE_URL",
    "https://api.deepseek.com",
    "https://api.atlascloud.ai/v1",
    "deepseek-mcp",
    "deepseek-flash",
    "deepseek-v4-pro",
    "deepseek-ai/deepseek-",
)


def forms(secret: str) -> tuple[str, ...]:
    """Every spelling of `secret` that Python or JSON may print, longest first."""
    spelled = {secret, repr(secret)[1:-1], repr(secret.encode("utf-8", "backslashreplace"))[2:-1]}
    spelled.add(json.dumps(secret)[1:-1])
    return tuple(sorted((s for s in spelled if s), key=len, reverse=True))


class Redactor:
    """Replaces every configured secret, in each of its forms, and every run of `FRAGMENT` or more characters
    taken from one (a clipped or cut key); a secret shorter than `FRAGMENT` is replaced only whole."""

    def __init__(self, secrets: tuple[str, ...], public: tuple[str, ...] = PUBLIC) -> None:
        spelled = {form for secret in secrets if secret for form in forms(secret)}
        self._short = tuple(sorted((form for form in spelled if len(form) < FRAGMENT), key=len, reverse=True))
        grams = {form[i : i + FRAGMENT] for form in spelled for i in range(len(form) - FRAGMENT + 1)}
        self._grams = frozenset(gram for gram in grams if not any(gram in text for text in public))
        self._search = re.compile(_trie(sorted(self._grams))).search if self._grams else None

    def __bool__(self) -> bool:
        return bool(self._short or self._grams)

    def __call__(self, text: str) -> str:
        if self._search is not None:
            text = self._fragments(text)
        for form in self._short:
            if form in text:
                text = text.replace(form, MARKER)
        return text

    def _fragments(self, text: str) -> str:
        assert self._search is not None
        parts: list[str] = []
        kept = 0  # the text before this is already in `parts`
        at = 0
        while (found := self._search(text, at)) is not None:
            start, end = found.start(), found.end()
            # Extend while the next FRAGMENT-gram is a key's too: overlapping pieces of a key are one run.
            while end < len(text) and text[end - FRAGMENT + 1 : end + 1] in self._grams:
                end += 1
            if start >= kept:
                parts += (text[kept:start], MARKER)
            # else this run overlaps the last one: its marker covers both
            kept = end
            # A piece of another part of a key may begin inside this run's last characters.
            at = max(end - FRAGMENT + 1, start + 1)
        if not parts:
            return text
        parts.append(text[kept:])
        return "".join(parts)


def _trie(words: list[str]) -> str:
    """A regex matching exactly `words` (all of one length, sorted), as a trie: one branch per distinct character
    at each depth, so a failed match costs at most one comparison per character of a word."""
    if len(words[0]) == 0:
        return ""
    groups: dict[str, list[str]] = {}
    for word in words:
        groups.setdefault(word[0], []).append(word[1:])
    branches = [re.escape(char) + _trie(rest) for char, rest in groups.items()]
    return branches[0] if len(branches) == 1 else "(?:" + "|".join(branches) + ")"


def redact(text: str, secrets: tuple[str, ...]) -> str:
    """`text` with every secret (and every piece of one of `FRAGMENT` characters or more) replaced by a marker."""
    return Redactor(secrets)(text)


class RedactingFilter(logging.Filter):
    """Replaces every configured key in log records, whatever logger wrote them (ours, the SDK's, httpx's)."""

    def __init__(self, secrets: tuple[str, ...]) -> None:
        super().__init__()
        self._redact = Redactor(secrets)

    def filter(self, record: logging.LogRecord) -> bool:
        if self._redact:
            message = record.getMessage()
            if record.exc_info and not record.exc_text:
                record.exc_text = logging.Formatter().formatException(record.exc_info)
            redacted = self._redact(message)
            if redacted != message:
                record.msg, record.args = redacted, None
            if record.exc_text:
                record.exc_text = self._redact(record.exc_text)
        return True
