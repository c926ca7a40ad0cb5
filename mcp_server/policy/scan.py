"""What a file's content says: a key, a token, a password or a private key means the file never leaves the machine.

The rules are data (rules.py, credentials.toml). One re2 set of their keywords, run once over the file's bytes in
lower case, says which rules can match at all (for most files none); only those run, each a re2 pattern, around
the places its keywords occur (bench/secret_scan.py, bench/scanners.py). Measured on the standard library's code:
Python's `re` ran the assignment pattern at 2 MB/s and an alternation of the keywords at 38 MB/s; re2 runs them at
160 and 500 MB/s on bytes (a third of that on str, which it must encode), and one alternation of all the rules at
7 MB/s (its automaton outgrows re2's memory), hence the set and the rules apart. With ~850 rules the set holds
~1,100 keywords: in `(?i)` it ran at half the speed of the same keywords in lower case over lowered bytes (lowering
runs at 450 MB/s), and a counted repeat among them (the base64 run) slowed it tenfold, so runs are looked for apart.
A rule's pattern is compiled the first time one of its keywords is met. A provider match needs its proof (proof.py:
the secret's entropy, a checksum); a match that needs judgement (an assignment to a secret-ish name, a URL's
password, an Authorization header) is judged by judge.py.

Then what hides one level down: runs of base64, base64url or hex are decoded (bounded) and their text scanned the
same way, so a private key base64-encoded in a kubeconfig (`client-key-data`) or a Kubernetes Secret is found. The
server's own keys are looked for in every spelling: plain, as Python or JSON print them, base64 at any alignment,
hex, and split across two adjacent string literals.
"""

from __future__ import annotations

import base64
import binascii
import functools
from dataclasses import dataclass, field
from typing import Any

import re2

from mcp_server.policy import judge, proof, rules
from mcp_server.policy.encodings import encoded_forms
from mcp_server.policy.redaction import forms, windows

OWN_KIND = "this server's own API key or token"


@functools.cache
def _rules() -> tuple[rules.Rule, ...]:
    """Every rule, known by its index here; the order names a finding where two rules find one line: the rules
    written here first, then the judged ones, then those taken over."""
    own = tuple(rule for rule in rules.providers() if rule.id.startswith("own."))
    return (*own, *rules.JUDGED, *(rule for rule in rules.providers() if not rule.id.startswith("own.")))


@functools.cache
def _ours() -> int:
    """How many of the rules lead `_rules()`: those written here and the judged ones."""
    return sum(rule.id.startswith("own.") for rule in rules.providers()) + len(rules.JUDGED)


@functools.cache
def _run_rules() -> tuple[int, ...]:
    return tuple(index for index, rule in enumerate(_rules()) if rule.runs)


_COMPILED: dict[int, Any] = {}  # scans run in worker threads: a race compiles a pattern twice, harmlessly


def _pattern(index: int) -> Any:
    """A rule's compiled pattern, compiled when its keyword is first met (all of them take 0.7 s)."""
    pattern = _COMPILED.get(index)
    if pattern is None:
        options = re2.Options()
        options.log_errors = False
        pattern = _COMPILED[index] = re2.compile(_rules()[index].pattern, options)
    return pattern


_RUN = rb"[A-Za-z0-9+/][A-Za-z0-9+/_-]{39,}={0,2}"  # base64 and base64url (hex is a subset): decoded and looked inside
_RUNS = re2.compile(_RUN)
# Whether a text has a run at all: 40 characters of base64 or base64url, in lower case (the gate's text). Apart
# from the set, whose automaton a counted repeat among ~1,000 literals slows tenfold; twice as fast as _RUNS.
_RUN_WAKE = re2.compile(rb"[a-z0-9+/_-]{40}")
# What a gate's entry wakes besides rules (rules are woken by their index in _rules()).
_WAKE_RUNS, _WAKE_OWN, _WAKE_SPLIT = -1, -2, -3


@dataclass(frozen=True)
class _Gate:
    """One re2 set of every rule's keywords and the server's own keys, in lower case, run over the file's bytes in
    lower case: a single pass says which rules can match at all; for most files none, and the scan ends there.
    (Lower case, because a set of ~1,100 entries in `(?i)` runs at half the speed of the same set on lowered bytes.)"""

    matcher: Any
    wakes: tuple[tuple[int, ...], ...]  # per entry: the rules it wakes, or one of the _WAKE_ markers
    needles: tuple[bytes, ...]  # per entry: the keyword it finds (b"" for the own keys' entries)

    def woken(self, lowered: bytes) -> dict[int, list[bytes]]:
        """The rules that can match, each with the keywords of its that occur."""
        found: dict[int, list[bytes]] = {}
        for entry in self.matcher.Match(lowered) or ():
            for index in self.wakes[entry]:
                found.setdefault(index, []).append(self.needles[entry])
        if _RUN_WAKE.search(lowered) is not None:
            found[_WAKE_RUNS] = []
            found.update((index, []) for index in _run_rules())
        return found


@functools.lru_cache(maxsize=8)
def _gate(own: bytes | None, pieces: bytes | None) -> _Gate:
    entries: dict[bytes, list[int]] = {}
    needles: dict[bytes, bytes] = {}
    for index, rule in enumerate(_rules()):
        for keyword in rule.keywords:
            entry = re2.escape(keyword.lower())
            entries.setdefault(entry, []).append(index)
            needles[entry] = keyword.lower()
    for pattern, wake in ((own, _WAKE_OWN), (pieces, _WAKE_SPLIT)):
        if pattern is not None:
            entries[pattern.lower()] = [wake]
    options = re2.Options()
    options.max_mem = 64 << 20  # the set's automaton; the default 8 MiB makes it fall back to a slower engine
    matcher = re2.Set.SearchSet(options)
    for entry in entries:
        matcher.Add(entry)
    matcher.Compile()
    wakes = tuple(tuple(wakes) for wakes in entries.values())
    return _Gate(matcher, wakes, tuple(needles.get(entry, b"") for entry in entries))


_K8S_DATA = re2.compile(rb"(?m)^(?:data|stringData):[ \t]*\r?\n[ \t]+[A-Za-z0-9_.-]{1,253}:[ \t]*[\"']?[^\s\"'{]{4}")
# Two string literals side by side, joined by nothing, +, ., & or a line continuation: "sk-abc" "def", 'a' + 'b'.
_JOINT = re2.compile(rb"[\"'`][ \t]*(?:\+|\.|&|\\)?[ \t]*(?:\r?\n[ \t]*)?(?:\+|\.|&)?[ \t]*[bfruBFRU]{0,2}[\"'`]")
_URLSAFE = bytes.maketrans(b"-_", b"+/")  # base64url as base64
_PRINTABLE = bytes(range(32, 127)) + b"\t\r\n"
_MAX_RUNS = 64  # short base64/hex runs decoded per text; longer ones, that can hold a key, within _MAX_DECODED only
_LONG_RUN = 120  # characters: a run this long can hold a key (a PEM header and some of its body)
_MAX_RUN = 1 << 16  # characters of one run decoded
_MAX_DECODED = 1 << 20  # characters decoded in all for one file, nested runs included
_DEPTH = 2  # base64 inside base64 (a kubeconfig in a Secret), no deeper
_BEFORE, _AFTER = 256, 1024  # bytes of a rule's window before and after its keyword: a match lies within
_SMALL = 16 << 10  # bytes of a text a rule runs over whole: finding its keywords would cost more than they save
_MAX_HITS = 64  # keyword hits in one text past which a rule runs over the whole of it


@dataclass(frozen=True)
class Finding:
    kind: str  # "a password assignment", "a private key (base64-encoded)", ...
    line: int
    rule: str = field(default="", compare=False)  # the rule's id in credentials.toml, or "" (for benches and tests)

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
        # A piece found alone means the key may be split across literals, and costs a pass over the text to join
        # them: a piece a caller could guess (`sk-` and 9 hex digits, 36 bits) would double the time of a scan of
        # its text, so it grows a prefix as the redactor's windows would. Pieces are those windows: 64 bits of the
        # key's body (one half of a key split in two holds one).
        pieces = _alternation({gram.encode() for key in keys for gram in windows(key)[1]})
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

    def own_key(self, data: bytes, woken: dict[int, list[bytes]]) -> Finding | None:
        if _WAKE_OWN in woken and self.own_pattern is not None and (m := self.own_pattern.search(data)) is not None:
            return Finding(OWN_KIND, _line(data, m.start()))
        if _WAKE_SPLIT in woken:
            joined = _JOINT.sub(b"", data)
            for key in self.whole:
                if key in joined:
                    return Finding(OWN_KIND + " (split across strings)", _line(data, data.find(key[:12])))
        return None


def _alternation(needles: set[bytes]) -> bytes | None:
    needles = {n for n in needles if n}
    if not needles:
        return None
    return b"|".join(re2.escape(n) for n in sorted(needles, key=len, reverse=True))


def _scan(data: bytes, depth: int, scanner: Scanner, budget: list[int]) -> Finding | None:
    lowered = data.lower()
    woken = scanner.gate.woken(lowered)
    if not woken:
        return None
    own = scanner.own_key(data, woken)
    if own is not None:
        return own
    hits: dict[bytes, list[int]] = {}  # where each keyword occurs, found once for all the rules that share it
    indexes = sorted(i for i in woken if i >= 0)
    # The rules written here and the judged ones name the first line they find; then the first rule taken over that
    # finds one names it (a file of keys, such as a rule set's own data, wakes every rule).
    ours = [f for f in (_first(i, data, lowered, woken[i], hits) for i in indexes if i < _ours()) if f is not None]
    if ours:
        return min(ours, key=lambda f: f.line)
    for index in (i for i in indexes if i >= _ours()):
        found = _first(index, data, lowered, woken[index], hits)
        if found is not None:
            return found
    if depth < _DEPTH and _WAKE_RUNS in woken:
        return _inside_runs(data, depth, scanner, budget)
    return None


def _first(
    index: int, data: bytes, lowered: bytes, keywords: list[bytes], hits: dict[bytes, list[int]]
) -> Finding | None:
    rule = _rules()[index]
    if rule.exact and keywords:  # the gate finds keywords in any case; this rule's occur only in its own
        keywords = [keyword for keyword in rule.keywords if keyword in data]
        if not keywords:
            return None
        lowered, hits = data, {}
    pattern = _pattern(index)
    for start, end in _windows(keywords, lowered, hits):
        for m in pattern.finditer(data, start, end):
            kind = _judge(index, data, m)
            if kind is not None:
                at = m.start() + (data[m.start() : m.start() + 1] == b"\n")  # a match may begin with the line's end
                return Finding(kind, _line(data, at), rule.id)
    return None


def _windows(keywords: list[bytes], lowered: bytes, hits: dict[bytes, list[int]]) -> list[tuple[int, int]]:
    """Where a rule can match: around each of its keywords (a match holds one), merged; the whole text where they
    cover half of it. A rule's pattern is then run on a few hundred bytes, not a whole file, for each keyword met
    (the bytes outside a window are context still, for word boundaries and `^`)."""
    if not keywords or len(lowered) <= _SMALL:  # a rule woken by a base64 run, or a small text: the whole of it
        return [(0, len(lowered))]
    at: list[int] = []
    for keyword in keywords:
        if keyword not in hits:
            found = hits[keyword] = []
            where = lowered.find(keyword)
            while where >= 0 and len(found) < _MAX_HITS:
                found.append(where)
                where = lowered.find(keyword, where + 1)
        at += hits[keyword]
    if len(at) >= _MAX_HITS:
        return [(0, len(lowered))]
    windows: list[tuple[int, int]] = []
    for where in sorted(at):
        start, end = max(0, where - _BEFORE), min(len(lowered), where + _AFTER)
        if windows and start <= windows[-1][1]:
            windows[-1] = (windows[-1][0], end)
        else:
            windows.append((start, end))
    if sum(end - start for start, end in windows) * 2 >= len(lowered):
        return [(0, len(lowered))]
    return windows


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
            return Finding(kind, _line(data, m.start()), found.rule)
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
    rule = _rules()[index]
    if rule.check in ("", "digit", "github-crc32"):
        return rule.kind if proof.proven(rule, data, m) else None
    if rule.check == "k8s":
        return rule.kind if _K8S_DATA.search(data) is not None else None
    group = next((g for g in range(1, (m.re.groups or 1) + 1) if m.start(g) >= 0), 1)
    value = m.group(group)[:400].decode("ascii", "replace")
    if rule.check == "url":
        url = m.group().decode("ascii", "replace") if rule is rules.URL else ""
        return rule.kind if judge.credential(value, url) else None
    if rule is rules.HEADER:
        return rule.kind if judge.real_value(value, 12) and judge.random_value(value) else None
    return judge.assignment(data, m.start(), m.start(group), value)


def _line(data: bytes, position: int) -> int:
    return data.count(b"\n", 0, position) + 1
