"""What a secret looks like, as data: the provider rules in credentials.toml, and the judged rules here.

The provider rules (about 1,100 kinds: every kind that gitleaks', betterleaks' and kingfisher's default rule sets
know, checked against the versions credentials.toml names, with the licence of each pattern taken over) are data,
loaded once, on the first scan, by `providers()`. Each names its keywords, and the scanner runs a rule only where
one of them occurs. The rules that need judgement (an assignment to a secret-ish name, a URL with a password, an
Authorization header) capture the value, and judge.py decides whether it is a secret (not a placeholder, a
variable, a type, an environment variable's name...). detect-secrets' ideas kept: keyword assignments, basic-auth
URLs, and entropy only where a secret-ish name says the value is one; its entropy over every string was left out
(3% of the standard library flagged).

Every pattern is re2 syntax (linear time, on bytes).
"""

from __future__ import annotations

import functools
import tomllib
from dataclasses import dataclass
from importlib import resources


@dataclass(frozen=True)
class Rule:
    kind: str  # what the finding is called in a reason: "it holds {kind} (line N)"
    keywords: tuple[bytes, ...]  # literals one of which every match holds: the pattern runs only where one occurs
    pattern: bytes  # re2 syntax; in a judged rule, group 1 is the value judged
    check: str = ""  # "", or what is judged: "digit", "assignment", "url", "header", "k8s", "github-crc32"
    nocase: bool = False  # keywords found in any case (the gate finds every keyword in any case; see `exact`)
    entropy: float = (
        0.0  # the least entropy (bits a character) of the secret: group `group`, or the first that took part
    )
    group: int = 0
    id: str = ""
    runs: bool = False  # woken by a long run of base64 characters (no literal is common to its matches)

    @functools.cached_property
    def exact(self) -> bool:
        """Whether every match holds one of the keywords in the case written (`SK` of Twilio's keys, not `sk` of
        `task`): a pattern without (?i) that spells each keyword as it is."""
        return b"(?i" not in self.pattern and all(k in self.pattern for k in self.keywords)


def _rule(entry: dict[str, object]) -> Rule:
    keywords = entry["keywords"]
    assert isinstance(keywords, list)
    return Rule(
        kind=str(entry["kind"]),
        keywords=tuple(str(k).encode("latin-1") for k in keywords),
        pattern=str(entry["pattern"]).encode("latin-1"),
        check=str(entry.get("check", "")),
        nocase=bool(entry.get("nocase", False)),
        entropy=float(entry.get("entropy", 0.0)),  # type: ignore[arg-type]
        group=int(entry.get("group", 0)),  # type: ignore[call-overload]
        id=str(entry["id"]),
        runs=bool(entry.get("runs", False)),
    )


@functools.cache
def providers() -> tuple[Rule, ...]:
    """The provider rules of credentials.toml, parsed on first use (about 0.1 s) and kept."""
    data = tomllib.loads((resources.files(__package__) / "credentials.toml").read_text("utf-8"))
    return tuple(_rule(entry) for entry in data["rule"])


# A name that says its value is a secret: password, *_SECRET, token, api key, AccountKey, npmAuthToken, auth ...
# The name's start is found in scan.py; here the word and its tail. The judged rules repeat without bounds: re2 is
# linear either way, and bounded repeats multiply its automaton's states (3x slower, measured).
_NAMES = (
    b"passw", b"passphrase", b"secret", b"token", b"apikey", b"api_key", b"api-key", b"accesskey", b"access_key",
    b"access-key", b"privatekey", b"private_key", b"private-key", b"accountkey", b"account_key", b"clientkey",
    b"client_key", b"client-key", b"signingkey", b"signing_key", b"masterkey", b"master_key", b"encryptionkey",
    b"encryption_key", b"auth\"", b"auth'", b"auth =", b"auth=", b"auth:", b"_auth", b"credential", b"pwd",
    b"pass =", b"pass=", b"pass:", b'pass":', b"pw =", b"pw=", b"psk",
)  # fmt: skip
_NAME = (
    rb"(?:passw(?:or)?d|passphrase|passwort|secret|token|api[_.-]?key|access[_.-]?key|private[_.-]?key|"
    rb"account[_.-]?key|client[_.-]?key|signing[_.-]?key|master[_.-]?key|encryption[_.-]?key|auth|credential|pwd|"
    rb"\bpass\b|\bpw\b|\bpsk\b)"
)
# `name = value`, `name: value`, `"name": "value"`, `name := value`, `name => value`, `<name>value</name>`.
ASSIGNMENT = Rule(
    "an assignment",
    _NAMES,
    # The value: to the closing quote when quoted (a passphrase has spaces), else to the first space or quote.
    rb"(?i)" + _NAME + rb"[A-Za-z0-9_.-]*(?:[\"']?[ \t]*(?::=|=>|\?=|=|:|>)|[\"'][ \t]*,)[ \t]*"
    rb"[bBrRuUfF]{0,2}(?:\"([^\"\r\n]+)\"|'([^'\r\n]+)'|[\"'`]?([^\s\"'`;,<]+))",
    "assignment",
    nocase=True,
    id="judged.assignment",
)
# scheme://user:password@host (postgres, mysql, redis, amqp, mongodb+srv, https ...).
URL = Rule(
    "a URL with a password",
    (b"://",),
    rb"(?i)\b[a-z][a-z0-9+.-]+://[^\s:/@\"'<>]*:([^\s:/@\"'<>]+)@[A-Za-z0-9\[]",
    "url",
    id="judged.url",
)
HEADER = Rule(
    "an Authorization header",
    (b"authorization",),
    rb"(?i)\b(?:authorization|proxy-authorization)[\"']?[ \t]*[:=,][ \t]*[\"']?(?:bearer|basic|token)"
    rb"[ \t]{1,4}([A-Za-z0-9._~+/=-]{12,})",
    "header",
    nocase=True,
    id="judged.header",
)
# A ~/.pgpass line, host:port:database:user:password (the file has no keyword; the ports of PostgreSQL and the
# services that speak its protocol wake the rule: 543x, pgbouncer 6432, Supabase 6543, CockroachDB 26257,
# DigitalOcean 25060, pgpool 9999, 15432; or a `*`).
PGPASS = Rule(
    "a .pgpass password",
    (b":543", b":*:", b":6432:", b":6543:", b":26257:", b":25060:", b":9999:", b":15432:"),
    rb"(?m)^[A-Za-z0-9._*\[\]-]+:(?:[0-9]{1,5}|\*):[^:\s]+:[^:\s]+:(\S+)[ \t]*\r?$",
    "url",
    id="judged.pgpass",
)
# A password on a MySQL or MariaDB command line: `mysqldump -u root -p` and the password, with no space between.
MYSQL_P = Rule(
    "a password on a mysql command line",
    (b"mysql", b"mariadb"),
    rb"(?i:\b(?:mysql[a-z_-]*|mariadb[a-z_-]*))[ \t][^\r\n]{0,200}?[ \t]-p"
    rb"([^\s'\"$`;|&]{3,}|'[^'\r\n]{3,}'|\"[^\"\r\n]{3,}\")",
    "url",
    nocase=True,
    id="judged.mysql-p",
)
# .netrc lines (a machine, its login and its password on one line) and a Kubernetes Secret's data.
NETRC = Rule(
    "a .netrc password",
    (b"machine",),
    rb"\bmachine[ \t]+\S+[ \t]+login[ \t]+\S+[ \t]+password[ \t]+\S",
    id="judged.netrc",
)
K8S_SECRET = Rule(
    "a Kubernetes Secret", (b"Secret",), rb"(?m)^kind:[ \t]*[\"']?Secret[\"']?[ \t]*$", "k8s", id="judged.k8s"
)

JUDGED: tuple[Rule, ...] = (ASSIGNMENT, URL, HEADER, PGPASS, MYSQL_P, NETRC, K8S_SECRET)

# Names whose value is no secret even though they hold a secret-ish word: where a secret is, not what it is.
SAFE_NAME_ENDS = (
    "file", "path", "dir", "name", "env", "var", "url", "uri", "type", "len", "length", "size", "count", "prompt",
    "field", "header", "param", "regex", "pattern", "format", "class", "kind", "cmd", "command", "policy", "id",
    "ids", "index", "endpoint", "expiry", "expires", "expires_in", "expiration", "ttl", "timeout", "method", "mode",
    "source", "store", "helper", "label", "hint", "message", "msg", "error", "required", "enabled", "set", "flag",
    "prefix", "suffix", "char", "chars", "re", "text", "attr", "key_id", "version", "bits", "algorithm", "alg",
    "scheme", "provider", "location", "manager", "limit", "max", "min", "handler", "callback", "hook", "fn", "func",
    "module", "plugin", "backend", "service", "host", "port", "user", "username", "login", "keys", "tokens", "ref",
    "reference", "hasher", "hashers", "secret_name", "arn", "mgr", "client_token", "spec", "usage", "state", "status",
    "help", "description", "desc", "title", "tooltip",
)  # fmt: skip
# Names whose value is where a secret is kept, whatever they end with: Bitnami charts' `existingSecret`.
SAFE_NAME_STARTS = ("existing",)
# Tokens that page, order or mark a request rather than grant access (AWS' NextToken, ClientRequestToken).
SAFE_NAME_WORDS = ("next", "continuation", "pagination", "page", "paging", "idempotency", "change", "output", "input",
                   "marker", "cursor", "lifecycle", "sync", "csrf", "xsrf", "request", "startswith", "endswith",
                   "contains", "exact", "iexact", "grant")  # fmt: skip
