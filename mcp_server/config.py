"""Settings, read once from the environment at start-up and passed down; nothing else reads `os.environ`."""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

from pydantic import SecretStr

from mcp_server.errors import ConfigError

ProviderName = Literal["deepseek", "atlas", "openai"]

DEEPSEEK_BASE_URL = "https://api.deepseek.com"
ATLASCLOUD_BASE_URL = "https://api.atlascloud.ai/v1"
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
MAX_PROMPT_CHARS = 1_000_000  # about 250K tokens: a quarter of DeepSeek's 1M context, far past any pasted file


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
    """Bounds on what one call or the whole process may use; defaults are documented in README."""

    max_concurrent_upstream: int = 64
    conversations: int = 200
    conversation_turns: int = 50
    conversation_idle_seconds: float = 3600.0


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

    @property
    def secrets(self) -> tuple[str, ...]:
        """Every key value in use, for redaction."""
        return tuple(p.api_key.get_secret_value() for p in self.providers if p.api_key is not None)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """Read the settings from `env` (the process environment by default). Raises ConfigError on bad values."""
        env = os.environ if env is None else env
        return cls(
            providers=_providers(env),
            timeout=_positive_float(env, "DEEPSEEK_MCP_TIMEOUT", 300.0),
            max_retries=_non_negative_int(env, "DEEPSEEK_MCP_MAX_RETRIES", 3),
            log_level=_log_level(env),
            limits=Limits(
                max_concurrent_upstream=_non_negative_int(env, "DEEPSEEK_MCP_MAX_CONCURRENCY", 64) or 1,
            ),
        )


def _key(env: Mapping[str, str], name: str) -> SecretStr | None:
    value = env.get(name, "").strip()
    return SecretStr(value) if value else None


def _url(env: Mapping[str, str], name: str, default: str) -> str:
    value = env.get(name, "").strip() or default
    if not value.startswith(("http://", "https://")):
        raise ConfigError(f"{name} must be an http(s) URL, got {value!r}")
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
        raise ConfigError(f"{name} must be a number of seconds, got {raw!r}") from None
    if value <= 0:
        raise ConfigError(f"{name} must be greater than 0, got {raw!r}")
    return value


def _non_negative_int(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    if not raw.isdigit():
        raise ConfigError(f"{name} must be a whole number of 0 or more, got {raw!r}")
    return int(raw)


def _log_level(env: Mapping[str, str]) -> str:
    raw = env.get("DEEPSEEK_MCP_LOG_LEVEL", "").strip().upper() or "WARNING"
    if raw not in LOG_LEVELS:
        raise ConfigError(f"DEEPSEEK_MCP_LOG_LEVEL must be one of {', '.join(LOG_LEVELS)}, got {raw!r}")
    return raw


class RedactingFilter(logging.Filter):
    """Replaces every configured key in log records, whatever logger wrote them (ours, the SDK's, httpx's)."""

    def __init__(self, secrets: tuple[str, ...]) -> None:
        super().__init__()
        self._secrets = tuple(s for s in secrets if s)

    def filter(self, record: logging.LogRecord) -> bool:
        if self._secrets:
            message = record.getMessage()
            redacted = redact(message, self._secrets)
            if redacted != message:
                record.msg, record.args = redacted, None
        return True


def redact(text: str, secrets: tuple[str, ...]) -> str:
    """`text` with every secret replaced by a marker."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, "[redacted]")
    return text
