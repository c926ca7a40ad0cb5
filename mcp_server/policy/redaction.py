"""Keeping keys out of everything the server writes: tool results, errors and every log record, without teaching
anyone any part of a key.

Redaction must teach nothing. A caller that can get its own text echoed (an argument quoted in an error, a page it
has DeepSeek fetch, a model asked to repeat) sees what the redactor changed in it; if a change depended on a piece
of the key it guessed, every echo would answer "is this piece in the key?", and a known prefix (`sk-`, `apikey-`)
would grow one character at a time. So every rule here either needs what no caller can guess, or needs no key:

- Every printed form of a key (plain, `repr()`, JSON; they differ only in escaped quotes and backslashes, since keys
  are printable ASCII) is replaced whole. A hit needs the whole key: it teaches nothing.
- A run of a key's characters is replaced only when it holds at least `HIDDEN_BITS` of the key's body: the
  characters after its head (`sk-`, `apikey-`, `sk-test-DEEPSEEK-`), which the format makes public. The first hit
  needs a whole window of the body guessed at once (2^64 guesses for 16 hex digits; a 1 MiB echo tries about
  2^20), so no caller can grow one from a prefix. A key cut by the upstream, a byte cap or a clipped message is
  still caught when at least one window of it survives.
- Text that a provider wrote in an error (upstream/errors.py) is also passed through `mask_reflections`, which looks
  at no key: DeepSeek's 401 quotes a key's last four characters (`****cd15`), and a provider could quote a clipped
  one; every masked quote and every run of 8 or more letters and digits that mixes both is replaced, whoever wrote
  it. A piece of a key shorter than a window and made only of letters or only of digits is what remains
  (docs/security.md, "Keys in output").

The search for runs is one regex per window size, built as a trie of the key's windows: at each position of the text
it compares at most one window's characters, so it is linear in the text, at C speed (bench/redaction.py).
"""

from __future__ import annotations

import json
import logging
import math
import re
import string

MARKER = "[redacted]"
HIDDEN_BITS = 64  # of a key's body, in one run, before the run is replaced: more than any caller can guess at once
HEAD_CHARS = 24  # a key's head (public by its format) ends at its last `-`, `_` or `.` within this many characters
# What the server prints on its own: a window of a key that is also a piece of these is public, and replacing it
# would blank out every message that names DEEPSEEK_API_KEY. Only such windows are spared; the rest is replaced.
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
# The alphabets a key's body may be drawn from, smallest first: a body is credited with the bits of the first one
# that holds all its characters (a guesser knows the alphabet as well as the prefix).
_ALPHABETS = tuple(
    frozenset(chars)
    for chars in (
        string.digits,
        "0123456789abcdef",
        "0123456789ABCDEF",
        string.ascii_lowercase,
        string.ascii_uppercase,
        string.ascii_lowercase + string.digits,
        string.ascii_uppercase + string.digits,
        string.ascii_letters,
        string.ascii_letters + string.digits,
        string.ascii_letters + string.digits + "-_",
        string.ascii_letters + string.digits + "+/=",
    )
)
# A key shown masked by a provider (`****cd15`, `sk-...cd15`), and a token-like run that mixes letters and digits.
_REFLECTED = re.compile(
    r"(?:\*{2,}|\.{3}|…)[A-Za-z0-9]{2,}"
    r"|(?<![A-Za-z0-9])(?=[A-Za-z0-9]*[0-9])(?=[A-Za-z0-9]*[A-Za-z])[A-Za-z0-9]{8,}"
)


def forms(secret: str) -> tuple[str, ...]:
    """Every spelling of `secret` that Python or JSON may print, longest first."""
    spelled = {secret, repr(secret)[1:-1], repr(secret.encode("utf-8", "backslashreplace"))[2:-1]}
    spelled.add(json.dumps(secret)[1:-1])
    return tuple(sorted((s for s in spelled if s), key=len, reverse=True))


def head_length(form: str) -> int:
    """How many leading characters of a key are its public head: up to its last `-`, `_` or `.` among the first
    HEAD_CHARS (`sk-`, `apikey-`, `sk-test-DEEPSEEK-`); 0 for a key with none there."""
    cut = max(form.rfind(sep, 0, HEAD_CHARS) for sep in "-_.")
    return cut + 1


def window(body: str) -> int:
    """How many characters of `body` hold HIDDEN_BITS, by the smallest alphabet that has all of them."""
    chars = set(body)
    size = next((len(alphabet) for alphabet in _ALPHABETS if chars <= alphabet), len(string.printable))
    return math.ceil(HIDDEN_BITS / math.log2(size))


def windows(form: str) -> tuple[int, set[str]]:
    """The window size of one printed form of a key, and its windows (none when its body is shorter than one)."""
    start = head_length(form)
    size = window(form[start:]) if start < len(form) else 1
    return size, {form[i : i + size] for i in range(start, len(form) - size + 1)}


def mask_reflections(text: str) -> str:
    """Provider error text with no key quoted in it, judged by shape alone (no key is consulted, so it teaches
    nothing): a masked quote such as `****cd15`, and every run of 8 or more letters and digits that mixes both."""
    return _REFLECTED.sub(MARKER, text)


class Redactor:
    """Replaces every configured secret whole, in each of its forms, and every run of a secret's body long enough
    to hold HIDDEN_BITS (a clipped or cut key); a secret with a shorter body is replaced only whole."""

    def __init__(self, secrets: tuple[str, ...], public: tuple[str, ...] = PUBLIC) -> None:
        spelled = {form for secret in secrets if secret for form in forms(secret)}
        self._whole = tuple(sorted(spelled, key=len, reverse=True))
        by_size: dict[int, set[str]] = {}
        for form in spelled:
            size, grams = windows(form)
            by_size.setdefault(size, set()).update(gram for gram in grams if not any(gram in p for p in public))
        self._runs = tuple(_Runs(size, grams) for size, grams in sorted(by_size.items()) if grams)

    def __bool__(self) -> bool:
        return bool(self._whole)

    def __call__(self, text: str) -> str:
        for form in self._whole:
            if form in text:
                text = text.replace(form, MARKER)
        for runs in self._runs:
            text = runs(text)
        return text


class _Runs:
    """Every run of text made of overlapping windows of one size taken from a key, replaced by one marker."""

    def __init__(self, size: int, grams: set[str]) -> None:
        self._size = size
        self._grams = frozenset(grams)
        self._search = re.compile(_trie(sorted(grams))).search

    def __call__(self, text: str) -> str:
        size = self._size
        parts: list[str] = []
        kept = 0  # the text before this is already in `parts`
        at = 0
        while (found := self._search(text, at)) is not None:
            start, end = found.start(), found.end()
            # Extend while the next window is a key's too: overlapping windows of a key are one run.
            while end < len(text) and text[end - size + 1 : end + 1] in self._grams:
                end += 1
            if start >= kept:
                parts += (text[kept:start], MARKER)
            # else this run overlaps the last one: its marker covers both
            kept = end
            # A window of another part of a key may begin inside this run's last characters.
            at = max(end - size + 1, start + 1)
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
    """`text` with every secret, and every run of one long enough to hold HIDDEN_BITS, replaced by a marker."""
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
