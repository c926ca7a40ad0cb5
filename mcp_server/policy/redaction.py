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

Redaction must also take the same time whatever a guess shares with a key. Python's `re` walking a trie of the
windows compared as many characters at each position as the text there shares with a window, so a text of guesses
ran up to six times slower per character the further they reached into a key: the time of every echo told how
much of each guess was right. So every search here (the whole forms, then the runs of each window size) is one RE2
automaton over the text's UTF-8 bytes: each byte costs one cached transition, whatever state it leads to. RE2 makes
a state, and a transition, the first time a text reaches it, which costs microseconds more; every one of them a text
can reach short of a whole window is made when the Redactor is built (`_warm`), so no first visit tells either
(bench/redaction.py: ~2 ms per MiB a search, the same at every depth).
"""

from __future__ import annotations

import functools
import json
import logging
import math
import re
import string
from collections.abc import Iterable
from typing import Any

import re2

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
        self._whole = _words(frozenset(form.encode() for form in spelled)) if spelled else None
        by_size: dict[int, set[str]] = {}
        for secret in filter(None, secrets):
            # Windows are taken from the key as it is and then spelled: a window of an escaped spelling taken as it
            # is (`\\xb6ln-7391`) would hold a few characters of the key in ten, guessable a few at a time.
            size, grams = windows(secret)
            spellings = {form for gram in grams for form in forms(gram)}
            by_size.setdefault(size, set()).update(gram for gram in spellings if not any(gram in p for p in public))
        self._runs = tuple(_Runs(size, grams) for size, grams in sorted(by_size.items()) if grams)
        # Texts joined by NUL are searched as one: no word or window holds it, so no match spans two texts.
        self._joinable = not any("\x00" in form for form in spelled) and not any("\x00" in s for s in secrets)

    def __bool__(self) -> bool:
        return self._whole is not None

    def untouched(self, texts: Iterable[str]) -> bool:
        """Whether redacting would leave every one of `texts` as it is, found by one search over them all (25 strings of
        a chat result: 5 us against 91 us one by one), in the same time per byte as redacting them."""
        if self._whole is None:
            return True
        if not self._joinable:
            return False
        joined = "\x00".join(texts)
        return self(joined) is joined

    def __call__(self, text: str) -> str:
        if self._whole is None:
            return text
        data = text.encode("utf-8", "surrogatepass")  # a word is whole characters: a match never splits one
        redacted = self._whole.replaced(data)
        for runs in self._runs:
            redacted = runs(redacted)
        return text if redacted is data else redacted.decode("utf-8", "surrogatepass")


_MARKER = MARKER.encode()
_BYTES = re2.Options()
_BYTES.encoding = re2.Options.Encoding.LATIN1  # a byte is a character: the words' UTF-8 bytes match as bytes


@functools.lru_cache(maxsize=64)
def _words(words: frozenset[bytes]) -> _Words:
    """The automaton for `words`, made and warmed once (~5 ms a key) for every Redactor of the same keys."""
    return _Words(words)


class _Words:
    """One RE2 automaton finding any of a set of byte strings, in the same time per byte whatever a text shares
    with them."""

    def __init__(self, words: frozenset[bytes]) -> None:
        # Where every word begins with the same bytes (the forms of one key: `sk-...`), RE2 skips ahead to them and
        # walks its automaton only from there, a step per byte the text shares with a key, which a guess's time
        # would tell. An alternative that no text holds (0xFF is never in UTF-8) shares no first byte, so RE2 walks
        # every byte.
        pattern = b"|".join(re2.escape(word) for word in sorted(words, key=len, reverse=True)) + b"|\xff"
        self._regex: Any = re2.compile(pattern, _BYTES)
        _warm(self._regex, words)

    def search(self, data: bytes, at: int) -> tuple[int, int] | None:
        found = self._regex.search(data, at)
        return None if found is None else found.span()

    def replaced(self, data: bytes) -> bytes:
        """`data` with every word replaced by the marker (the same object when none is there)."""
        parts: list[bytes] = []
        kept = 0
        while (span := self.search(data, kept)) is not None:
            parts += (data[kept : span[0]], _MARKER)
            kept = span[1]
        return b"".join((*parts, data[kept:])) if parts else data


def _warm(regex: Any, words: frozenset[bytes]) -> None:
    """Make now every state and transition of `regex`'s automaton that a text can reach without holding a whole
    word: each prefix of a word, followed by each byte. RE2 makes them lazily, and a first visit costs more, so
    without this the first text to reach one character further into a key than any before would take longer."""
    used = set().union(*words)
    cut = next((bytes([byte]) for byte in range(256) if byte not in used), b"")  # back to the automaton's start
    prefixes = {word[:length] for word in words for length in range(len(word))}
    every = [bytes([byte]) for byte in range(256)]
    text = b"".join(prefix + (cut + prefix).join(every) + cut for prefix in sorted(prefixes))
    for _ in regex.finditer(text):  # a prefix and its next byte may be a whole word: go on past it
        pass


class _Runs:
    """Every run of text made of overlapping windows of one size taken from a key, replaced by one marker."""

    def __init__(self, size: int, grams: set[str]) -> None:
        self._grams = frozenset(gram.encode() for gram in grams)
        self._words = _words(self._grams)
        # Windows of printable ASCII all `size` bytes long (every real key's) are extended a byte at a time; escaped
        # spellings are of other lengths, and each of their windows is found by the search.
        self._width = size if all(len(gram) == size for gram in self._grams) else None

    def __call__(self, data: bytes) -> bytes:
        parts: list[bytes] = []
        kept = 0  # the bytes before this are already in `parts`
        at = 0
        while (found := self._words.search(data, at)) is not None:
            start, end = found
            last = start  # where the run's last window starts
            if self._width is not None:
                # Extend while the next window is a key's too: overlapping windows of a key are one run. (Only after
                # a whole window matched, which no caller can guess: the time this takes teaches nothing.)
                while end < len(data) and data[end - self._width + 1 : end + 1] in self._grams:
                    end += 1
                last = end - self._width
            if start >= kept:
                parts += (data[kept:start], _MARKER)
            # else this run overlaps the last one: its marker covers both
            kept = max(kept, end)
            # A window of another part of a key may begin inside this run's last characters.
            at = _next(data, last)
        if not parts:
            return data
        parts.append(data[kept:])
        return b"".join(parts)


def _next(data: bytes, at: int) -> int:
    """Where the UTF-8 character after the one that starts at `at` starts."""
    at += 1
    while at < len(data) and data[at] & 0xC0 == 0x80:
        at += 1
    return at


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
