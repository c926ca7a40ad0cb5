"""What differs between providers, and which provider a call goes to.

Model ids are data: any id is accepted and passed through; the only knowledge kept here is each provider's
default id per tool, which a user can always override with `model`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from mcp_server.config import ProviderSettings, Settings
from mcp_server.errors import ConfigError
from mcp_server.upstream.errors import Origin

ToolKind = Literal["chat", "reason", "ocr", "fim"]
TOOL_KINDS: tuple[ToolKind, ...] = ("chat", "reason", "ocr", "fim")
Effort = Literal["low", "high", "max"]


@dataclass(frozen=True)
class Provider:
    """A configured upstream and how to speak to it."""

    settings: ProviderSettings
    origin: Origin
    defaults: dict[ToolKind, str]
    models_need_key: bool = True

    @property
    def name(self) -> str:
        return self.settings.name

    @property
    def base_url(self) -> str:
        return self.settings.base_url

    def url(self, path: str) -> str:
        return f"{self.settings.base_url}/{path.lstrip('/')}"

    def root_url(self, path: str) -> str:
        """`path` on the base URL without its version segment (DeepSeek's beta routes, Atlas's /public API)."""
        return f"{self.settings.base_url.removesuffix('/v1')}/{path.lstrip('/')}"

    def headers(self) -> dict[str, str]:
        headers = {"Accept": "application/json", "User-Agent": "deepseek-mcp"}
        if self.settings.api_key is not None:
            headers["Authorization"] = f"Bearer {self.settings.api_key.get_secret_value()}"
        return headers

    def thinking_params(self, enabled: bool, effort: Effort | None) -> dict[str, Any]:
        """Request fields that switch thinking on or off on this provider."""
        if self.name == "openai":
            # vLLM / SGLang serve DeepSeek's chat template, whose switch is a template kwarg (WIRE.md §9).
            return {"chat_template_kwargs": {"thinking": enabled, "enable_thinking": enabled}}
        params: dict[str, Any] = {"thinking": {"type": "enabled" if enabled else "disabled"}}
        if enabled and effort is not None:
            params["reasoning_effort"] = effort
        return params


def _deepseek(settings: ProviderSettings) -> Provider:
    origin = Origin("deepseek", "DeepSeek", settings.key_env, settings.base_url, "https://platform.deepseek.com/top_up")
    defaults: dict[ToolKind, str] = {
        "chat": "deepseek-flash",
        "reason": "deepseek-flash",
        "ocr": "deepseek-flash",
        "fim": "deepseek-flash",
    }
    return Provider(settings, origin, defaults)


def _atlas(settings: ProviderSettings) -> Provider:
    origin = Origin("atlas", "Atlas Cloud", settings.key_env, settings.base_url, "https://www.atlascloud.ai/console")
    defaults: dict[ToolKind, str] = {
        "chat": "deepseek-ai/deepseek-v4-flash",
        "reason": "deepseek-ai/deepseek-v4-flash",
        "ocr": "deepseek-ai/deepseek-ocr",
    }
    return Provider(settings, origin, defaults, models_need_key=False)


def _openai(settings: ProviderSettings) -> Provider:
    origin = Origin("openai", "OpenAI-compatible server", settings.key_env, settings.base_url)
    model = settings.default_model
    defaults: dict[ToolKind, str] = {"chat": model, "reason": model, "ocr": model} if model else {}
    return Provider(settings, origin, defaults)


_BUILDERS = {"deepseek": _deepseek, "atlas": _atlas, "openai": _openai}


@dataclass(frozen=True)
class Route:
    provider: Provider
    model: str


class Router:
    """Picks the provider and model id for a call: explicit `provider:model` first, then the id's shape, then order."""

    def __init__(self, settings: Settings) -> None:
        self.providers = tuple(_BUILDERS[p.name](p) for p in settings.providers)

    def get(self, name: str) -> Provider | None:
        return next((p for p in self.providers if p.name == name), None)

    def route(self, tool: ToolKind, model: str | None = None) -> Route:
        """The provider and model id for one call of `tool`. Raises ConfigError naming the variable to set."""
        if not self.providers:
            raise ConfigError(
                "No API key is set. Set DEEPSEEK_API_KEY (DeepSeek) or ATLASCLOUD_API_KEY (Atlas Cloud) in the "
                "server's environment, e.g. the `env` block of your IDE's MCP config, then restart the server."
            )
        if tool == "fim" and self.get("deepseek") is None:
            raise ConfigError(self._no_default_message(tool))
        model = (model or "").strip() or None
        if model is not None:
            return self._explicit(tool, model)
        for provider in self._preferred(tool):
            default = provider.defaults.get(tool)
            if default is not None:
                return Route(provider, default)
        raise ConfigError(self._no_default_message(tool))

    def _explicit(self, tool: ToolKind, model: str) -> Route:
        prefix, sep, rest = model.partition(":")
        if sep and prefix in _BUILDERS and rest:
            provider = self.get(prefix)
            if provider is None:
                raise ConfigError(f"Provider {prefix!r} is not configured: {_key_hint(prefix)}")
            return Route(provider, rest)
        if "/" in model and (atlas := self.get("atlas")) is not None:
            return Route(atlas, model)  # Atlas ids are namespaced ("deepseek-ai/..."); DeepSeek's never are
        return Route(self._preferred(tool)[0], model)

    def _preferred(self, tool: ToolKind) -> tuple[Provider, ...]:
        if tool == "fim":
            return tuple(p for p in self.providers if p.name == "deepseek")  # FIM is a DeepSeek beta endpoint
        if tool == "ocr" and (atlas := self.get("atlas")) is not None:
            # DeepSeek-OCR itself lives on Atlas Cloud; DeepSeek's vision model is the fallback.
            return (atlas, *(p for p in self.providers if p is not atlas))
        return self.providers

    def _no_default_message(self, tool: ToolKind) -> str:
        names = ", ".join(p.origin.label for p in self.providers)
        if tool == "fim":
            return f"fim needs DeepSeek's beta endpoint: set DEEPSEEK_API_KEY (configured now: {names})."
        return (
            f"No default model for {tool} on {names}: pass `model` (call list_models for the ids served), "
            "or set DEEPSEEK_MCP_OPENAI_MODEL for a self-hosted server."
        )


def _key_hint(name: str) -> str:
    return {
        "deepseek": "set DEEPSEEK_API_KEY.",
        "atlas": "set ATLASCLOUD_API_KEY.",
        "openai": "set DEEPSEEK_MCP_OPENAI_BASE_URL (and DEEPSEEK_MCP_OPENAI_API_KEY if the server needs a key).",
    }[name]
