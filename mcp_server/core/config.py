"""Settings, read once from the environment at start-up and passed down; nothing else reads `os.environ`.

Every value is checked here: a bad one stops the server with one line naming the variable (exit 2), and a key's
value is never echoed, not even in that line.
"""

from __future__ import annotations

import math
import os
import re
import shutil
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Literal
from urllib.parse import unquote, urlsplit

from pydantic import SecretStr

from mcp_server.core.errors import ConfigError
from mcp_server.core.keys import UNEXPANDED, KeyProblem, check_secret, is_placeholder, read_key, refusal

ProviderName = Literal["deepseek", "atlas", "openai"]

DEEPSEEK_BASE_URL = "https://api.deepseek.com"
ATLASCLOUD_BASE_URL = "https://api.atlascloud.ai/v1"
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
MAX_PATHS = 100  # paths in one call's `files`, `paths` or `scope`: a schema bound, checked before any is read
MAX_PROMPT_CHARS = 1_000_000  # about 300K tokens: a third of DeepSeek's 1M context, far past any pasted file
FILE_ROOTS_ENV = "DEEPSEEK_MCP_FILE_ROOTS"
CONTEXT_ENV = "DEEPSEEK_MCP_MAX_CONTEXT_TOKENS"
DECODE_PIXELS_ENV = "DEEPSEEK_MCP_DECODE_PIXELS"
ALLOW_PRIVATE_URLS_ENV = "DEEPSEEK_MCP_ALLOW_PRIVATE_URLS"
HTTP_TOKEN_ENV = "DEEPSEEK_MCP_HTTP_TOKEN"  # noqa: S105 - the name of the variable, not a token
CALL_SECONDS_ENV = "DEEPSEEK_MCP_MAX_CALL_SECONDS"
REQUEST_BYTES_ENV = "DEEPSEEK_MCP_MAX_REQUEST_BYTES"
STATE_ENV = "DEEPSEEK_MCP_STATE"
_REDACTED_PASSWORD = 8  # characters: a state URL's password this long or longer is redacted from all output
MAX_COST_ENV = "DEEPSEEK_MCP_MAX_COST_PER_CALL"
DAILY_BUDGET_ENV = "DEEPSEEK_MCP_DAILY_BUDGET"
CHECK_COMMAND_ENV = "DEEPSEEK_MCP_CHECK_COMMAND"
CHECK_SECONDS_ENV = "DEEPSEEK_MCP_CHECK_SECONDS"
MAX_CHECK_COMMAND_CHARS = 4096

_WHOLE_NUMBER = re.compile(r"[0-9]{1,12}")  # ASCII digits only: str.isdigit() also takes "²" and "٣"


@dataclass(frozen=True)
class ProviderSettings:
    """One upstream: where it is and the key for it (absent for keyless self-hosted servers)."""

    name: ProviderName
    base_url: str
    api_key: SecretStr | None
    key_env: str  # the variable a user sets for this provider's key; named in error messages
    default_model: str | None = None  # self-hosted servers serve whatever their owner loaded


@dataclass(frozen=True)
class Limits:
    """Bounds on what one call or the whole process may use; defaults are documented in docs/reliability.md.
    Every bound is a positive number: zero never means "unlimited"."""

    max_concurrent_upstream: int = 64
    conversations: int = 200
    conversation_turns: int = 50
    conversation_bytes: int = 8 * 1024 * 1024  # one conversation's history, UTF-8 (about 2.4M tokens: past any context)
    conversations_total_bytes: int = 256 * 1024 * 1024  # every conversation together
    conversation_idle_seconds: float = 3600.0
    # One owner's share (an HTTP token's, or the local user's); past the global bounds the largest holder loses its
    # oldest conversation, so one token cannot push out every other token's conversations.
    owner_conversations: int = 200
    owner_conversations_bytes: int = 256 * 1024 * 1024
    # deepseek-flash reads 1M tokens (2**20) in all, answer included: leave room for a thinking answer's default
    # 64K tokens and for the estimate's error (tokens.py counts without a tokenizer).
    max_context_tokens: int = 900_000
    render_workers: int = field(default_factory=lambda: max(1, min(os.cpu_count() or 1, 8)))  # PDF rendering processes
    ocr_concurrency: int = 8  # OCR pages in flight per call (rendering, uploading and being read together)
    # Image pixels being decoded at once, across every call (media/budget.py): about 5 bytes a pixel at the peak, so
    # 100 Mpx is ~500 MiB, two of the largest images this server decodes (50 Mpx each) at once.
    decode_pixels: int = 100_000_000
    # `files` on chat and reason (mcp_server/context/): what one call may walk, read and send.
    context_files: int = 2000  # files sent
    context_file_bytes: int = 2**20  # one file; past it the file is skipped (1 MiB is ~300K tokens of code)
    context_total_bytes: int = 32 * 2**20  # read in all (the token budget usually stops reading first)
    context_entries: int = 50_000  # directory entries looked at while walking
    context_depth: int = 32  # folder levels below a path given
    context_seconds: float = 15.0  # walking and reading, for a slow or network file system
    # One tool call from start to end, whatever it waits for: an upstream that sends keep-alives forever would
    # otherwise hold one of the upstream slots for good. Generous: a max-effort thinking call or 50 OCR pages.
    call_seconds: float = 1800.0
    # One HTTP request body (`serve --http`): the 32 MiB OCR source as base64 (42.7 MiB) with line breaks and JSON-RPC.
    request_bytes: int = 50 * 2**20
    # `review` (mcp_server/review/): the change one call gathers from git.
    review_files: int = 300  # changed files looked at; the rest are named in `skipped`
    review_diff_bytes: int = 4 * 2**20  # what git may print for one command (the diff, a listing, the objects)
    review_diff_lines: int = 60_000  # lines of diff sent
    review_seconds: float = 30.0  # each git command, and the whole gathering

    def __post_init__(self) -> None:
        for item in fields(self):
            value = getattr(self, item.name)
            if not value > 0:
                raise ConfigError(f"limit {item.name} must be greater than 0, got {value!r}")


@dataclass(frozen=True)
class CheckSettings:
    """`delegate`'s check: the operator's command (never a caller's), its time bound, and what it inherits.

    `environment` is the server's own environment as it started (keys included): mcp_server/delegate/environment.py
    removes every key and token from it before the check starts. `bwrap` is bubblewrap's path, when it is on PATH."""

    command: str
    seconds: float = 300.0
    environment: tuple[tuple[str, str], ...] = field(default=(), repr=False)
    bwrap: str | None = None


@dataclass(frozen=True)
class Settings:
    """Everything the server needs to know, fixed for the life of the process."""

    providers: tuple[ProviderSettings, ...] = ()
    timeout: float = 300.0
    connect_timeout: float = 10.0
    max_retries: int = 3
    retry_base_delay: float = 0.5
    retry_max_delay: float = 8.0
    retry_after_cap: float = 30.0
    log_level: str = "WARNING"
    limits: Limits = field(default_factory=Limits)
    file_roots: tuple[Path, ...] | None = None  # None: no restriction over stdio, no local files over HTTP
    serves_http: bool = False  # set by `serve --http`: callers are remote, so local files need file_roots
    http_tokens: tuple[SecretStr, ...] = ()
    allow_private_urls: bool = False  # URLs to a self-hosted provider may name addresses inside the user's network
    warnings: tuple[str, ...] = ()  # said once at start-up (stderr) and by `doctor`
    key_problems: tuple[KeyProblem, ...] = ()  # key variables holding a placeholder (core/keys.py)
    # Where conversations and spending live (mcp_server/state/): "memory", a redis(s):// URL, or a SQLite file.
    # Settings made in code keep state in memory; from_env defaults to the file in the user's state folder.
    state: str = field(default="memory", repr=False)  # a Redis URL may hold a password
    max_cost_per_call: float | None = None  # USD; None: no limit
    daily_budget: float | None = None  # USD per owner per UTC day; None: no limit
    check: CheckSettings | None = None  # delegate's check (DEEPSEEK_MCP_CHECK_COMMAND); None: no check is ever run
    # Where delegate's scratch copies go: the user's own runtime folder (XDG_RUNTIME_DIR: a tmpfs private to the
    # user on systemd systems, so 5,000 files are written to memory, not a busy disk); None: the system's temp folder.
    scratch_dir: str | None = None

    @property
    def secrets(self) -> tuple[str, ...]:
        """Every key and token value in use, for redaction."""
        keys = tuple(p.api_key.get_secret_value() for p in self.providers if p.api_key is not None)
        password = urlsplit(self.state).password if self.state.startswith(("redis://", "rediss://")) else None
        # A short password would be replaced wherever its word appears in an answer; the store's name and its
        # errors leave it out on their own (state/redis_store.py).
        state = (password, unquote(password)) if password and len(password) >= _REDACTED_PASSWORD else ()
        return keys + tuple(token.get_secret_value() for token in self.http_tokens) + tuple(dict.fromkeys(state))

    @property
    def refusal(self) -> str | None:
        """What every tool answers instead of running, while a key variable holds a placeholder (core/keys.py)."""
        return refusal(self.key_problems, any_key=bool(self.providers))

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """Read the settings from `env` (the process environment by default). Raises ConfigError on bad values."""
        env = os.environ if env is None else env
        problems = tuple(p for name in _KEY_VARIABLES if (p := read_key(env, name)[1]) is not None)
        return cls(
            providers=_providers(env),
            warnings=tuple(p.message() for p in problems) + _token_warnings(env),
            key_problems=problems,
            timeout=_positive_float(env, "DEEPSEEK_MCP_TIMEOUT", 300.0),
            max_retries=_whole_number(env, "DEEPSEEK_MCP_MAX_RETRIES", 3, minimum=0),
            log_level=_log_level(env),
            limits=Limits(
                max_concurrent_upstream=_whole_number(env, "DEEPSEEK_MCP_MAX_CONCURRENCY", 64, minimum=1),
                max_context_tokens=_whole_number(env, CONTEXT_ENV, Limits.max_context_tokens, minimum=1000),
                call_seconds=_positive_float(env, CALL_SECONDS_ENV, Limits.call_seconds),
                request_bytes=_whole_number(env, REQUEST_BYTES_ENV, Limits.request_bytes, minimum=64 * 1024),
                decode_pixels=_whole_number(env, DECODE_PIXELS_ENV, Limits.decode_pixels, minimum=1_000_000),
                **_optional_counts(env),
            ),
            file_roots=_file_roots(env),
            http_tokens=tuple(SecretStr(t) for t in _http_tokens(env)),
            state=_state(env),
            max_cost_per_call=_usd(env, MAX_COST_ENV),
            daily_budget=_usd(env, DAILY_BUDGET_ENV),
            allow_private_urls=_switch(env, ALLOW_PRIVATE_URLS_ENV),
            check=_check(env),
            scratch_dir=_runtime_dir(env),
        )


def _key(env: Mapping[str, str], name: str) -> SecretStr | None:
    value = read_key(env, name)[0]
    return SecretStr(value) if value else None


_KEY_VARIABLES = ("DEEPSEEK_API_KEY", "ATLASCLOUD_API_KEY", "DEEPSEEK_MCP_OPENAI_API_KEY")


def _token_warnings(env: Mapping[str, str]) -> tuple[str, ...]:
    if not any(UNEXPANDED.fullmatch(t.strip()) for t in env.get(HTTP_TOKEN_ENV, "").split(",")):
        return ()
    return (
        f"{HTTP_TOKEN_ENV} holds an unexpanded placeholder, so it is treated as unset: the host did not find that "
        "variable in its own environment; export it where the host starts",
    )


def _http_tokens(env: Mapping[str, str]) -> tuple[str, ...]:
    # An unexpanded placeholder is no token: accepting `${DEEPSEEK_MCP_HTTP_TOKEN}` would make it a public one.
    raw = env.get(HTTP_TOKEN_ENV, "")
    tokens = [token.strip() for token in raw.split(",")]
    # A placeholder copied from the docs (`<16+ random characters>`, `your-token-here`) would be a public token.
    if any(token and not UNEXPANDED.fullmatch(token) and is_placeholder(token) for token in tokens):
        raise ConfigError(
            f"A token in {HTTP_TOKEN_ENV} is still a placeholder, which anyone who read the docs could send: replace "
            f'it with random characters, e.g. export {HTTP_TOKEN_ENV}="$(python3 -c "import secrets; '
            'print(secrets.token_urlsafe(32))")"'
        )
    return tuple(check_secret(HTTP_TOKEN_ENV, token) for token in tokens if token and not UNEXPANDED.fullmatch(token))


def _url(env: Mapping[str, str], name: str, default: str) -> str:
    value = env.get(name, "").strip() or default
    if not re.fullmatch(r"https?://[^\s/?#]+(/[^\s?#]*)?", value):
        raise ConfigError(f"{name} must be an http(s) URL such as {default or 'http://127.0.0.1:8000/v1'}")
    if "@" in value.split("://", 1)[1].split("/", 1)[0]:
        # Error messages name the base URL; a password in it would be printed with them.
        raise ConfigError(f"{name} must not carry a user name or password; put the key in its own variable")
    return value.rstrip("/")


def _providers(env: Mapping[str, str]) -> tuple[ProviderSettings, ...]:
    """Providers in routing order: DeepSeek first, then Atlas Cloud, then a self-hosted OpenAI-compatible server."""
    found: list[ProviderSettings] = []
    hosted: tuple[tuple[ProviderName, str, str, str], ...] = (
        ("deepseek", "DEEPSEEK_API_KEY", "DEEPSEEK_BASE_URL", DEEPSEEK_BASE_URL),
        ("atlas", "ATLASCLOUD_API_KEY", "ATLASCLOUD_BASE_URL", ATLASCLOUD_BASE_URL),
    )
    for name, key_env, url_env, default_url in hosted:
        key = _key(env, key_env)
        if key is not None:
            found.append(ProviderSettings(name, _url(env, url_env, default_url), key, key_env))
    if env.get("DEEPSEEK_MCP_OPENAI_BASE_URL", "").strip():
        found.append(
            ProviderSettings(
                "openai",
                _url(env, "DEEPSEEK_MCP_OPENAI_BASE_URL", ""),
                _key(env, "DEEPSEEK_MCP_OPENAI_API_KEY"),
                "DEEPSEEK_MCP_OPENAI_API_KEY",
                env.get("DEEPSEEK_MCP_OPENAI_MODEL", "").strip() or None,
            )
        )
    return tuple(found)


def _positive_float(env: Mapping[str, str], name: str, default: float) -> float:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a number of seconds, got {raw[:40]!r}") from None
    if not math.isfinite(value) or value <= 0:
        raise ConfigError(f"{name} must be a finite number of seconds greater than 0, got {raw[:40]!r}")
    return value


def _whole_number(env: Mapping[str, str], name: str, default: int, *, minimum: int) -> int:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    if not _WHOLE_NUMBER.fullmatch(raw) or int(raw) < minimum:
        raise ConfigError(f"{name} must be a whole number of {minimum} or more, got {raw[:40]!r}")
    return int(raw)


def _optional_counts(env: Mapping[str, str]) -> dict[str, int]:
    """Limits whose default depends on the machine: only those the environment sets are passed."""
    found: dict[str, int] = {}
    for field_name, name, most in (
        ("render_workers", "DEEPSEEK_MCP_RENDER_WORKERS", 64),
        ("ocr_concurrency", "DEEPSEEK_MCP_OCR_CONCURRENCY", 256),
    ):
        if env.get(name, "").strip():
            value = _whole_number(env, name, 1, minimum=1)
            if value > most:
                raise ConfigError(f"{name} must be at most {most}, got {value}")
            found[field_name] = value
    return found


def _switch(env: Mapping[str, str], name: str) -> bool:
    raw = env.get(name, "").strip().lower()
    if raw in ("", "0", "false", "no", "off"):
        return False
    if raw in ("1", "true", "yes", "on"):
        return True
    raise ConfigError(f"{name} must be 1 or 0 (true or false), got {raw[:40]!r}")


def _log_level(env: Mapping[str, str]) -> str:
    raw = env.get("DEEPSEEK_MCP_LOG_LEVEL", "").strip().upper() or "WARNING"
    if raw not in LOG_LEVELS:
        raise ConfigError(f"DEEPSEEK_MCP_LOG_LEVEL must be one of {', '.join(LOG_LEVELS)}, got {raw[:40]!r}")
    return raw


def _file_roots(env: Mapping[str, str]) -> tuple[Path, ...] | None:
    """The folders local files may be read from, symlinks resolved now; None when the variable is unset."""
    raw = env.get(FILE_ROOTS_ENV, "")
    parts = [part.strip() for part in raw.split(os.pathsep) if part.strip()]
    if not parts:
        if raw.strip():  # " : " names no folder; taking it as unset would quietly open every file
            raise ConfigError(f"{FILE_ROOTS_ENV} names no folder; set it to folders separated by {os.pathsep!r}")
        return None
    roots: list[Path] = []
    for part in parts:
        try:
            root = Path(part).expanduser().resolve(strict=True)
        except (OSError, RuntimeError, ValueError):
            raise ConfigError(f"{FILE_ROOTS_ENV} names {part[:200]!r}, which does not exist") from None
        if not root.is_dir():
            raise ConfigError(f"{FILE_ROOTS_ENV} names {part[:200]!r}, which is not a folder")
        roots.append(root)
    return tuple(dict.fromkeys(roots))


def public_url(url: str) -> str:
    """A URL without its password (the user name stays: it says which account), for messages and `doctor`."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    host = f"[{host}]" if ":" in host else host
    user = parts.username or ""
    user = f"{user}:***@" if parts.password else (f"{user}@" if user else "")
    try:
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        port = ":?"
    return f"{parts.scheme}://{user}{host}{port}{parts.path}"


def _state(env: Mapping[str, str]) -> str:
    """`memory`, a redis:// or rediss:// URL, or an absolute path to a SQLite file (default: the state folder)."""
    raw = env.get(STATE_ENV, "").strip()
    if not raw:
        import platformdirs

        return str(platformdirs.user_state_path("deepseek-mcp", appauthor=False) / "state.db")
    if raw.lower() == "memory":
        return "memory"
    if "://" in raw:
        parts = urlsplit(raw)
        # Nothing of a URL that does not parse is shown: a password with a '/' in it parses as host, port or path.
        shown = f"a {parts.scheme[:20]}:// URL that does not parse (not shown: it may hold a password)"
        if parts.scheme not in ("redis", "rediss"):
            raise ConfigError(f"{STATE_ENV} must be `memory`, a redis:// or rediss:// URL, or a file path; got {shown}")
        try:
            valid = bool(parts.hostname) and (parts.port is None or parts.port > 0)
        except ValueError:
            valid = False
        if not valid or "@" in parts.path + parts.query + parts.fragment:
            raise ConfigError(
                f"{STATE_ENV} must name a host and port, e.g. redis://:PASSWORD@localhost:6379/0, with any '/', '@' "
                f"or ':' in the password percent-encoded (%2F, %40, %3A); got {shown}"
            )
        return raw
    path = Path(raw).expanduser()
    if not path.is_absolute():
        raise ConfigError(
            f"{STATE_ENV} must be an absolute path to a file (hosts start servers anywhere); got {raw[:200]!r}"
        )
    if path.is_dir():
        raise ConfigError(f"{STATE_ENV} names a folder ({raw[:200]!r}); name a file in it, e.g. {path / 'state.db'}")
    return str(path)


def _usd(env: Mapping[str, str], name: str) -> float | None:
    raw = env.get(name, "").strip()
    if not raw:
        return None
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{name} must be an amount in USD such as 5 or 0.50, got {raw[:40]!r}") from None
    if not math.isfinite(value) or value <= 0:
        raise ConfigError(f"{name} must be an amount in USD greater than 0, got {raw[:40]!r}")
    return value


def _check(env: Mapping[str, str]) -> CheckSettings | None:
    """delegate's check command, from the server's environment only; None when it is unset."""
    command = env.get(CHECK_COMMAND_ENV, "").strip()
    seconds = _positive_float(env, CHECK_SECONDS_ENV, CheckSettings.seconds)
    if not command:
        return None
    if len(command) > MAX_CHECK_COMMAND_CHARS or "\x00" in command:
        raise ConfigError(
            f"{CHECK_COMMAND_ENV} must be one shell command line of at most {MAX_CHECK_COMMAND_CHARS} characters"
        )
    if UNEXPANDED.fullmatch(command):
        raise ConfigError(
            f"{CHECK_COMMAND_ENV} holds an unexpanded placeholder ({command[:60]}); set it to a command such as "
            "`python -m pytest -q -x`"
        )
    path = env.get("PATH") or os.defpath
    return CheckSettings(command, seconds, tuple(env.items()), shutil.which("bwrap", path=path))


def _runtime_dir(env: Mapping[str, str]) -> str | None:
    """XDG_RUNTIME_DIR when it names an existing folder; a bad one is ignored (the temp folder serves)."""
    raw = env.get("XDG_RUNTIME_DIR", "").strip()
    return raw if raw and os.path.isabs(raw) and os.path.isdir(raw) else None
