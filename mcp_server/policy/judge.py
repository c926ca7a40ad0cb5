"""Whether a value a judged rule captured is a secret: placeholders, variables, types, environment-variable names,
file paths and host names are not; a password needs a digit or a symbol, or is a passphrase (quoted, with spaces)
or 12 lower-case letters or more; other values some entropy. A URL's, a .pgpass line's or a mysql `-p` password is
one unless it is a placeholder, a variable, or a local default (the user name again).
"""

from __future__ import annotations

import math
import re
from collections import Counter

from mcp_server.policy import rules

NAME_CHARS = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-")

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


def credential(value: str, url: str) -> bool:
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


def assignment(data: bytes, start: int, value_start: int, value: str) -> str | None:
    lead = start
    while lead > 0 and start - lead < 40 and data[lead - 1] in NAME_CHARS:
        lead -= 1
    name = data[lead:start].decode("ascii", "replace") + _name_tail(data, start)
    words = _CAMEL.sub(r"\1_\2", name).lower().replace("-", "_").replace(".", "_").strip("_")
    if words.endswith(rules.SAFE_NAME_ENDS) and not words.endswith(("token", "secret", "password", "key", "auth")):
        return None
    if any(word.startswith(rules.SAFE_NAME_STARTS) or word in rules.SAFE_NAME_WORDS for word in words.split("_")):
        return None
    if _listed(data, start, value_start, name) or words.endswith("client_token"):  # AWS' idempotency token
        return None
    quoted = value_start > 0 and data[value_start - 1] in b"\"'`"
    value = value.rstrip(")]}\\").removesuffix("\\n")
    if not quoted:
        value = value.lstrip("+-!~*&")  # a unary operator before a name: `x = +xToken`
    if value.lower() == words.replace("_", "") or value.lower() == name.lower():  # `auth=auth`: an argument passed on
        return None
    password = any(word in words for word in ("pass", "pwd", "pw", "psk"))
    if not real_value(value, 6 if password else 8, quoted=quoted, password=password):
        return None
    if not password and not random_value(value):
        return None
    return f"a {_called(words)} assignment"


def _listed(data: bytes, start: int, value_start: int, name: str) -> bool:
    """Whether a match is two items of a list, not an assignment: `("auth", "0002_alter")`, `"password1",
    "password2"`. Only `define('DB_PASSWORD', 'value')` and its kin assign with a comma: a constant's name that says
    password, secret, token or key."""
    between = data[start:value_start]
    if b"," not in between or any(sign in between for sign in (b"=", b":")):
        return False
    if value_start == 0 or data[value_start - 1] not in b"\"'`":
        return True  # `"SECRET_KEY", id=W025.id`: code, not a value
    if any(word in data[value_start : value_start + 40].lower() for word in (b"pass", b"secret", b"token")):
        return True  # "password1", "password2": names in a list
    words = name.lower()
    constant = name.strip("\"'").replace("_", "").replace("-", "")
    return not constant.isupper() or not any(word in words for word in ("pass", "pwd", "secret", "token", "key"))


_CALLED = (
    ("pass", "password"), ("pwd", "password"), ("pw", "password"), ("psk", "password"), ("secret", "secret"),
    ("token", "token"), ("credential", "credential"), ("auth", "credential"),
)  # fmt: skip


def _called(words: str) -> str:
    """What an assignment is called in a reason, from the name it assigns to."""
    return next((called for word, called in _CALLED if word in words), "key")


def _name_tail(data: bytes, start: int) -> str:
    end = start
    while end < len(data) and end - start < 80 and data[end] in NAME_CHARS:
        end += 1
    return data[start:end].decode("ascii", "replace")


def real_value(value: str, shortest: int, quoted: bool = True, password: bool = False) -> bool:
    """Whether a value is a secret rather than a placeholder, a name, a path, a type or code."""
    lowered = value.lower()
    if len(value) < shortest or len(set(value)) < 4 or lowered in _PLACEHOLDERS:
        return False
    if lowered.startswith(_PLACEHOLDER_STARTS) or "xxx" in lowered or "***" in value or "..." in value:
        return False
    if "://" in value or value.startswith(("/", "./", "../", "~/")) or lowered.endswith(_FILE_ENDS):
        return False
    if "EXAMPLE" in value:  # the documentation's own keys, AWS' in particular
        return False
    if password and "password" in lowered:  # "PassWordMustBeAtLeast6Chars.", "old_password": words, not a password
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
    if password and len(parts) >= 3 and (quoted or set(value) <= _DICEWARE):
        return _diceware(value)
    return password and len(parts) == 1 and _letters(value)  # else a name: DEEPSEEK_API_KEY, self.token


_DICEWARE = frozenset("abcdefghijklmnopqrstuvwxyz-")


def _diceware(value: str) -> bool:
    """Whether a password of lower-case words joined by `-`, `_` or `.` is a diceware password
    (`correct-horse-battery-staple`) rather than a name: three words or more, 15 characters or more, none of them
    a word that names things. (Measured on 5,091 neutral files, quoted or joined by `-`: no file more flagged.)"""
    return len(value) >= 15 and value.islower() and not any(word in value for word in _NAMED)


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


def random_value(value: str) -> bool:
    """Whether a value looks generated: several kinds of character and some entropy (not a word or a sentence)."""
    kinds = sum((any(c.islower() for c in value), any(c.isupper() for c in value), any(c.isdigit() for c in value)))
    return kinds >= 2 and entropy(value) >= 2.8


def entropy(value: str) -> float:
    counts = Counter(value)
    total = len(value)
    return -sum(n / total * math.log2(n / total) for n in counts.values())
