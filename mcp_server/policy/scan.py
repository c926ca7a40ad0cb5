"""What a file's content says: a key, a token, a password or a private key means the file never leaves the machine.

The rules are data (rules.py). One re2 set of their keywords, run over the file's UTF-8 bytes, says which rules
can match at all (for most files none); only those run, each a re2 pattern: linear time, 66 MB/s on the standard
library's code (bench/secret_scan.py). Measured on that code: Python's `re` ran the assignment pattern at 2 MB/s
and an alternation of the keywords at 38 MB/s; re2 runs them at 160 and 500 MB/s on bytes (a third of that on
str, which it must encode), and one alternation of all the rules at 7 MB/s (its automaton outgrows re2's memory),
hence the set and the rules apart. A match that needs judgement (an assignment to a secret-ish name,
a URL's password, an Authorization header) is judged here: placeholders, variables, types, environment-variable
names, file paths and host names are not secrets; a password needs a digit or a symbol, or is a passphrase (quoted,
with spaces) or 12 lower-case letters or more; other values some entropy. A URL's, a .pgpass line's or a mysql
`-p` password is one unless it is a placeholder, a variable, or a local default (the user name again).

Then what hides one level down: runs of base64, base64url or hex are decoded (bounded) and their text scanned the
same way, so a private key base64-encoded in a kubeconfig (`client-key-data`) or a Kubernetes Secret is found. The
server's own keys are looked for in every spelling: plain, as Python or JSON print them, base64 at any alignment,
hex, and split across two adjacent string literals.
"""

from __future__ import annotations

import base64
import binascii
import functools
import math
import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import re2

from mcp_server.policy import rules
from mcp_server.policy.encodings import encoded_forms
from mcp_server.policy.redaction import forms

OWN_KIND = "this server's own API key or token"
_ALL = (*rules.TOKENS, *rules.JUDGED)
_EACH = tuple(re2.compile(rule.pattern) for rule in _ALL)


_RUN = rb"[A-Za-z0-9+/][A-Za-z0-9+/_-]{39,}={0,2}"  # base64 and base64url (hex is a subset): decoded and looked inside
_RUNS = re2.compile(_RUN)
# What a gate's entry wakes besides rules (rules are woken by their index in _ALL).
_WAKE_RUNS, _WAKE_OWN, _WAKE_SPLIT = -1, -2, -3


@dataclass(frozen=True)
class _Gate:
    """One re2 set of every rule's keywords, the base64 run, and the server's own keys: a single pass over a file
    says which rules can match at all; for most files none, and the scan ends there."""

    matcher: Any
    wakes: tuple[tuple[int, ...], ...]  # per entry: the rules it wakes, or one of the _WAKE_ markers

    def woken(self, data: bytes) -> set[int]:
        return {index for entry in self.matcher.Match(data) or () for index in self.wakes[entry]}


@functools.lru_cache(maxsize=8)
def _gate(own: bytes | None, pieces: bytes | None) -> _Gate:
    entries: dict[bytes, list[int]] = {}
    for index, rule in enumerate(_ALL):
        for keyword in rule.keywords:
            entries.setdefault((b"(?i)" if rule.nocase else b"") + re2.escape(keyword), []).append(index)
    entries[_RUN] = [_WAKE_RUNS]
    for pattern, wake in ((own, _WAKE_OWN), (pieces, _WAKE_SPLIT)):
        if pattern is not None:
            entries[pattern] = [wake]
    options = re2.Options()
    options.max_mem = 64 << 20  # the set's automaton; the default 8 MiB makes it fall back to a slower engine
    matcher = re2.Set.SearchSet(options)
    for entry in entries:
        matcher.Add(entry)
    matcher.Compile()
    return _Gate(matcher, tuple(tuple(wakes) for wakes in entries.values()))


_K8S_DATA = re2.compile(rb"(?m)^(?:data|stringData):[ \t]*\r?\n[ \t]+[A-Za-z0-9_.-]{1,253}:[ \t]*[\"']?[^\s\"'{]{4}")
_NAME_CHARS = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-")
# Two string literals side by side, joined by nothing, +, ., & or a line continuation: "sk-abc" "def", 'a' + 'b'.
_JOINT = re2.compile(rb"[\"'`][ \t]*(?:\+|\.|&|\\)?[ \t]*(?:\r?\n[ \t]*)?(?:\+|\.|&)?[ \t]*[bfruBFRU]{0,2}[\"'`]")
_URLSAFE = bytes.maketrans(b"-_", b"+/")  # base64url as base64
_PRINTABLE = bytes(range(32, 127)) + b"\t\r\n"
_MAX_RUNS = 64  # short base64/hex runs decoded per text; longer ones, that can hold a key, within _MAX_DECODED only
_LONG_RUN = 120  # characters: a run this long can hold a key (a PEM header and some of its body)
_MAX_RUN = 1 << 16  # characters of one run decoded
_MAX_DECODED = 1 << 20  # characters decoded in all for one file, nested runs included
_DEPTH = 2  # base64 inside base64 (a kubeconfig in a Secret), no deeper
_WINDOW = 12  # characters of an own key that, found alone, mean it may be split across literals

_PLACEHOLDERS = frozenset(
    {
        "password", "passwd", "pass", "pwd", "secret", "token", "changeme", "change_me", "changeit", "example",
        "redacted", "none", "null", "nil", "true", "false", "undefined", "required", "optional", "string", "str",
        "bytes", "int", "bool", "dict", "list", "object", "any", "mask", "masked", "hidden", "dummy", "placeholder",
        "notasecret", "secret123", "password123", "hunter2hunter2",
    }
)  # fmt: skip
_PLACEHOLDER_STARTS = ("your", "my_", "my-", "<", "{", "$", "%", "#{", "@", "*", "...", "replace", "insert", "enter",
                       "example", "sample", "dummy", "fake", "xxx", "changeme", "todo", "env:", "env.", "process.env",
                       "os.environ", "os.getenv", "getenv", "secrets.", "vault:", "ref+", "!")  # fmt: skip
_FILE_ENDS = (".pem", ".key", ".json", ".yaml", ".yml", ".txt", ".crt", ".cfg", ".conf", ".ini", ".env", ".toml",
              ".py", ".sh", ".gpg", ".p12", ".pfx", ".jks", ".der", ".asc", ".pub", ".html", ".md")  # fmt: skip
# Credentials that are a local default or a documentation example, not a secret (in URLs, .pgpass, -p).
_DEFAULTS = frozenset(
    {"foo", "bar", "baz", "qux", "quux", "test", "testing", "user", "admin", "guest", "root", "demo", "abc", "abc123",
     "123", "1234", "12345", "123456", "password1", "passw0rd", "p4ssw0rd", "letmein", "qwerty", "postgres", "mysql",
     "pw", "pwd", "passw", "s3cret", "topsecret", "mypassword", "mysecretpassword", "tiger", "scott"}
)  # fmt: skip
# Words of a message, not of a passphrase; and words of a name, not of a password.
_PROSE = frozenset(
    {"a", "an", "the", "is", "are", "be", "to", "of", "in", "on", "for", "and", "or", "not", "your", "you", "please",
     "enter", "must", "with", "this", "that", "it", "no", "invalid", "wrong", "incorrect", "required", "missing",
     "empty", "new", "old", "current", "confirm", "at", "least", "characters", "from", "by", "as", "was", "has",
     "have", "will", "can", "cannot", "should", "if", "do", "does", "my", "our", "too", "short", "long", "here"}
)  # fmt: skip
_NAMED = ("pass", "pwd", "secret", "token", "key", "auth", "cred", "word", "name", "user", "config", "setting",
          "default", "value", "field", "input", "env", "var", "hash", "salt", "login")  # fmt: skip
_PATH = re.compile(r"(?:[a-z0-9._-]+/){2,}[a-z0-9._-]*")  # lower-case segments: base64 has upper case, + and =
_HOST = re.compile(r"(?:[a-z0-9-]+\.){2,}[a-z]{2,12}")
_CAMEL = re.compile(r"([a-z0-9])([A-Z])")
_SEGMENTS = re.compile(r"[_.:/\\-]+")


@dataclass(frozen=True)
class Finding:
    kind: str  # "a password assignment", "a private key (base64-encoded)", ...
    line: int

    @property
    def reason(self) -> str:
        return f"it holds {self.kind} (line {self.line})"


@dataclass(frozen=True)
class Scanner:
    """Finds secrets in text; built once per call with the server's own keys (the automaton is cached)."""

    own: tuple[str, ...] = ()  # every spelling of the server's own keys
    own_pattern: Any = None  # their spellings, encoded ones included, as one re2 pattern
    whole: tuple[bytes, ...] = ()  # the keys themselves, looked for once split literals are joined
    gate: _Gate = field(default_factory=lambda: _gate(None, None), repr=False, compare=False)

    @classmethod
    def of(cls, secrets: tuple[str, ...]) -> Scanner:
        keys = tuple(secret for secret in secrets if secret)
        own = tuple(dict.fromkeys(form for key in keys for form in forms(key)))
        spelled = _alternation({s.encode() for s in own} | {e for key in keys for e in encoded_forms(key.encode())})
        pieces = _alternation({key[i : i + _WINDOW].encode() for key in keys for i in range(len(key) - _WINDOW + 1)})
        own_pattern = None if spelled is None else re2.compile(spelled)
        return cls(own, own_pattern, tuple(key.encode() for key in keys), _gate(spelled, pieces))

    def finding(self, text: str) -> str | None:
        """What kind of secret `text` holds ("a private key", "a password assignment", ...), or None."""
        found = self.find(text)
        return None if found is None else found.kind

    def find(self, text: str) -> Finding | None:
        """The first secret in `text`, with its line, or None."""
        return self.find_bytes(text.encode("utf-8", "surrogatepass"))

    def find_bytes(self, data: bytes) -> Finding | None:
        """The same for a file's bytes as read (UTF-8): re2 runs on them without a copy."""
        return _scan(data, 0, self, [_MAX_DECODED])

    def own_key(self, data: bytes, woken: set[int]) -> Finding | None:
        if _WAKE_OWN in woken and self.own_pattern is not None and (m := self.own_pattern.search(data)) is not None:
            return Finding(OWN_KIND, _line(data, m.start()))
        if _WAKE_SPLIT in woken:
            joined = _JOINT.sub(b"", data)
            for key in self.whole:
                if key in joined:
                    return Finding(OWN_KIND + " (split across strings)", _line(data, data.find(key[:_WINDOW])))
        return None


def _alternation(needles: set[bytes]) -> bytes | None:
    needles = {n for n in needles if n}
    if not needles:
        return None
    return b"|".join(re2.escape(n) for n in sorted(needles, key=len, reverse=True))


def _scan(data: bytes, depth: int, scanner: Scanner, budget: list[int]) -> Finding | None:
    woken = scanner.gate.woken(data)
    if not woken:
        return None
    own = scanner.own_key(data, woken)
    if own is not None:
        return own
    found = [f for f in (_first(index, data) for index in sorted(woken) if index >= 0) if f is not None]
    if found:
        return min(found, key=lambda f: f.line)
    if depth < _DEPTH and _WAKE_RUNS in woken:
        return _inside_runs(data, depth, scanner, budget)
    return None


def _first(index: int, data: bytes) -> Finding | None:
    for m in _EACH[index].finditer(data):
        kind = _judge(index, data, m)
        if kind is not None:
            return Finding(kind, _line(data, m.start()))
    return None


def _inside_runs(data: bytes, depth: int, scanner: Scanner, budget: list[int]) -> Finding | None:
    """What the base64 and hex runs of `data` encode, scanned the same way; `budget` bounds the decoding."""
    short = 0
    for m in _RUNS.finditer(data):
        if budget[0] <= 0:
            break
        if m.end() - m.start() < _LONG_RUN:
            short += 1
            if short > _MAX_RUNS:
                continue
        run = m.group()[: min(_MAX_RUN, budget[0])]
        budget[0] -= len(run)
        decoded = _decoded(run)
        if decoded is None:
            continue
        found = _scan(decoded, depth + 1, scanner, budget)
        if found is not None:
            kind = found.kind if found.kind.endswith("-encoded)") else f"{found.kind} (encoded)"
            return Finding(kind, _line(data, m.start()))
    return None


def _decoded(run: bytes) -> bytes | None:
    """The text a base64 or hex run encodes, or None when it encodes binary (a hash, an image, DER)."""
    try:
        if len(run) % 2 == 0 and all(c in b"0123456789abcdefABCDEF" for c in run[:64]):
            raw = binascii.unhexlify(run)
        else:
            body = run.rstrip(b"=").translate(_URLSAFE)
            raw = base64.b64decode(body[: len(body) - len(body) % 4] or b"", validate=True)
    except (binascii.Error, ValueError):
        return None
    if len(raw) < 16 or len(raw.translate(None, _PRINTABLE)) > len(raw) // 50:
        return None
    return raw


def _judge(index: int, data: bytes, m: Any) -> str | None:
    rule = _ALL[index]
    if not rule.check:
        return rule.kind
    if rule.check == "digit":
        return rule.kind if any(48 <= c <= 57 for c in m.group()) else None
    if rule.check == "k8s":
        return rule.kind if _K8S_DATA.search(data) is not None else None
    group = next((g for g in range(1, (m.re.groups or 1) + 1) if m.start(g) >= 0), 1)
    value = m.group(group)[:400].decode("ascii", "replace")
    if rule.check == "url":
        return (
            rule.kind if _credential(value, m.group().decode("ascii", "replace") if rule is rules.URL else "") else None
        )
    if rule is rules.HEADER:
        return rule.kind if _real_value(value, 12) and _random(value) else None
    return _assignment(data, m.start(), m.start(group), value)


def _credential(value: str, url: str) -> bool:
    """Whether a password in a URL, a .pgpass line or on a command line is one: any value but a placeholder, a
    variable, or (in a URL) the user name again (postgres:postgres@, guest:guest@: a local default)."""
    value = value.strip("'\"")
    lowered = value.lower()
    if len(value) < 3 or lowered in _PLACEHOLDERS or lowered in _DEFAULTS or lowered.startswith(_PLACEHOLDER_STARTS):
        return False
    if "xxx" in lowered or "***" in value or "..." in value:
        return False
    if lowered.replace("_", "").replace("-", "").isalpha() and any(word in lowered for word in _NAMED[:4]):
        return False  # app_password, db-secret: a placeholder's words
    user = url.partition("://")[2].partition(":")[0].rpartition("/")[2]
    return not user or user.lower() != lowered


def _assignment(data: bytes, start: int, value_start: int, value: str) -> str | None:
    lead = start
    while lead > 0 and start - lead < 40 and data[lead - 1] in _NAME_CHARS:
        lead -= 1
    name = data[lead:start].decode("ascii", "replace") + _name_tail(data, start)
    words = _CAMEL.sub(r"\1_\2", name).lower().replace("-", "_").replace(".", "_").strip("_")
    if words.endswith(rules.SAFE_NAME_ENDS) and not words.endswith(("token", "secret", "password", "key", "auth")):
        return None
    if any(word.startswith(rules.SAFE_NAME_STARTS) for word in words.split("_")):
        return None
    quoted = value_start > 0 and data[value_start - 1] in b"\"'`"
    value = value.rstrip(")]}\\").removesuffix("\\n")
    password = any(word in words for word in ("pass", "pwd", "pw", "psk"))
    if not _real_value(value, 6 if password else 8, quoted=quoted, password=password):
        return None
    if not password and not _random(value):
        return None
    return f"a {_called(words)} assignment"


_CALLED = (
    ("pass", "password"), ("pwd", "password"), ("pw", "password"), ("psk", "password"), ("secret", "secret"),
    ("token", "token"), ("credential", "credential"), ("auth", "credential"),
)  # fmt: skip


def _called(words: str) -> str:
    """What an assignment is called in a reason, from the name it assigns to."""
    return next((called for word, called in _CALLED if word in words), "key")


def _name_tail(data: bytes, start: int) -> str:
    end = start
    while end < len(data) and end - start < 80 and data[end] in _NAME_CHARS:
        end += 1
    return data[start:end].decode("ascii", "replace")


def _real_value(value: str, shortest: int, quoted: bool = True, password: bool = False) -> bool:
    """Whether a value is a secret rather than a placeholder, a name, a path, a type or code."""
    lowered = value.lower()
    if len(value) < shortest or len(set(value)) < 4 or lowered in _PLACEHOLDERS:
        return False
    if lowered.startswith(_PLACEHOLDER_STARTS) or "xxx" in lowered or "***" in value or "..." in value:
        return False
    if "://" in value or value.startswith(("/", "./", "../", "~/")) or lowered.endswith(_FILE_ENDS):
        return False
    if not quoted and any(c in value for c in "()[]{}"):
        return False
    if value.endswith(":"):  # a prompt ("Password:")
        return False
    if _PATH.fullmatch(value) or _HOST.fullmatch(value):  # kv/data/app/prod-2024, dev-a1b2.us.auth0.com
        return False
    if any(c.isspace() for c in value):  # only a quoted value has spaces: a passphrase, or a message
        return password and _passphrase(value)
    parts = [part for part in _SEGMENTS.split(value) if part]
    if not all(part.isalpha() for part in parts):
        return True
    return password and len(parts) == 1 and _letters(value)  # else a name: DEEPSEEK_API_KEY, self.token


def _passphrase(value: str) -> bool:
    """Whether a quoted password with spaces is a passphrase ("correct horse battery staple"), not a message
    ("password is too short", "Enter your password")."""
    words = value.lower().split()
    if not 2 <= len(words) <= 10 or len(value) < 12:
        return False
    return all(word.isalnum() and word not in _PROSE for word in words) and not any(w in value.lower() for w in _NAMED)


def _letters(value: str) -> bool:
    """Whether a password of letters alone is one (a diceware or "memorable" password, `correcthorsebatterystaple`)
    rather than an identifier: 12 letters or more, all lower case (camelCase and CONSTANTS are names), holding
    no word that names things (`passwordfield`, `defaultconfig`)."""
    return len(value) >= 12 and value.islower() and not any(word in value for word in _NAMED)


def _random(value: str) -> bool:
    """Whether a value looks generated: several kinds of character and some entropy (not a word or a sentence)."""
    kinds = sum((any(c.islower() for c in value), any(c.isupper() for c in value), any(c.isdigit() for c in value)))
    return kinds >= 2 and _entropy(value) >= 2.8


def _entropy(value: str) -> float:
    counts = Counter(value)
    total = len(value)
    return -sum(n / total * math.log2(n / total) for n in counts.values())


def _line(data: bytes, position: int) -> int:
    return data.count(b"\n", 0, position) + 1
