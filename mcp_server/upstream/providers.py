"""What differs between providers, as data on each provider, and which provider a call goes to.

Model ids are data: any id is accepted and passed through. What a provider is told here is how to speak to it (how
thinking is switched, whether it takes an effort level, where FIM and balances live, whether it may inline
`<think>` tags) and which shape of id it serves; its live model list, once read, settles ids two providers could
both serve.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Literal

import anyio

from mcp_server.core.config import ProviderSettings, Settings
from mcp_server.core.errors import ConfigError
from mcp_server.upstream import tool_apis
from mcp_server.upstream.catalog import Directory, ModelRow, Traits, traits_of
from mcp_server.upstream.completion import ThinkTags
from mcp_server.upstream.errors import Origin, UpstreamError
from mcp_server.upstream.tool_apis import OcrApi, WebApis

ToolKind = Literal["chat", "reason", "ocr", "fim"]
TOOL_KINDS: tuple[ToolKind, ...] = ("chat", "reason", "ocr", "fim")
Effort = Literal["low", "high", "max"]
IdShape = Literal["bare", "namespaced", "any"]  # "deepseek-flash"; "deepseek-ai/deepseek-ocr"; whatever was loaded
ThinkingSwitch = Literal["deepseek", "template"]  # `thinking` + `reasoning_effort`; vLLM's `chat_template_kwargs`


@dataclass(frozen=True)
class Provider:
    """A configured upstream and how to speak to it."""

    settings: ProviderSettings
    origin: Origin
    defaults: dict[ToolKind, str]
    ids: IdShape
    thinking: ThinkingSwitch = "deepseek"
    effort: bool = True  # takes `reasoning_effort`
    inline_think: bool = False  # may put reasoning inline as <think>...</think> (raw chat templates)
    fim_path: str | None = None  # on the origin, without the version segment
    balance: Literal["deepseek", "atlas"] | None = None  # which balance API the account has
    models_need_key: bool = True
    ocr_api: OcrApi | None = None  # reads whole documents itself (DeepSeek's /v1/tools/ocr)
    web: WebApis | None = None  # web search and page fetching
    # How it calls functions (the `investigate` loop): in thinking mode (DeepSeek's API), only with thinking off
    # (self-hosted DeepSeek-V3.1 weights: their card's non-thinking tool template, vLLM's deepseek_v31 parser), or
    # not at all (None).
    tool_calls: Literal["thinking", "plain"] | None = "thinking"
    # Fetches image URLs from inside the user's network (a self-hosted server), so a URL must not name an address
    # there (policy/urls.py); a public provider fetches from its own network.
    fetches_locally: bool = False

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
        if self.thinking == "template":
            # vLLM / SGLang serve DeepSeek's chat template, whose switch is a template kwarg (WIRE.md §9).
            return {"chat_template_kwargs": {"thinking": enabled, "enable_thinking": enabled}}
        params: dict[str, Any] = {"thinking": {"type": "enabled" if enabled else "disabled"}}
        if enabled and effort is not None and self.effort:
            params["reasoning_effort"] = effort
        return params

    def think_tags(self, thinking: bool) -> ThinkTags:
        """How to read `<think>` in this provider's content: a bare `</think>` counts only when thinking was asked."""
        if not self.inline_think:
            return "off"
        return "inline" if thinking else "leading"

    def takes(self, model: str) -> bool:
        """Whether an id of this shape can be one this provider serves."""
        if self.ids == "any":
            return True
        return ("/" in model) == (self.ids == "namespaced")


def _deepseek(settings: ProviderSettings) -> Provider:
    origin = Origin("deepseek", "DeepSeek", settings.key_env, settings.base_url, "https://platform.deepseek.com/top_up")
    defaults: dict[ToolKind, str] = {
        "chat": "deepseek-flash",
        "reason": "deepseek-flash",
        "ocr": "deepseek-flash",
        "fim": "deepseek-flash",
    }
    return Provider(
        settings,
        origin,
        defaults,
        ids="bare",
        fim_path="beta/completions",
        balance="deepseek",
        ocr_api=tool_apis.DEEPSEEK_OCR,  # read at start-up, so a test can swap in other limits
        web=tool_apis.DEEPSEEK_WEB,
    )


def _atlas(settings: ProviderSettings) -> Provider:
    origin = Origin("atlas", "Atlas Cloud", settings.key_env, settings.base_url, "https://www.atlascloud.ai/console")
    defaults: dict[ToolKind, str] = {
        "chat": "deepseek-ai/deepseek-v4-flash",
        "reason": "deepseek-ai/deepseek-v4-flash",
        "ocr": "deepseek-ai/deepseek-ocr",
    }
    return Provider(settings, origin, defaults, ids="namespaced", balance="atlas", models_need_key=False)


def _openai(settings: ProviderSettings) -> Provider:
    origin = Origin("openai", "OpenAI-compatible server", settings.key_env, settings.base_url)
    model = settings.default_model
    defaults: dict[ToolKind, str] = {"chat": model, "reason": model, "ocr": model} if model else {}
    return Provider(
        settings,
        origin,
        defaults,
        ids="any",
        thinking="template",
        effort=False,
        inline_think=True,
        tool_calls="plain",
        fetches_locally=True,
    )


_BUILDERS = {"deepseek": _deepseek, "atlas": _atlas, "openai": _openai}
Lister = Callable[[Provider], Awaitable[list[ModelRow]]]  # a provider's live model list (raises UpstreamError)
LIST_WAIT = 5.0  # seconds routing waits for model lists before it settles by id shape alone


@dataclass(frozen=True)
class Route:
    provider: Provider
    model: str
    traits: Traits = field(default_factory=Traits)


class Router:
    """Picks the provider and model id for a call: `provider:model` first, then who serves the id, then the order
    of preference (DeepSeek, Atlas Cloud, a self-hosted server; DeepSeek-OCR's home first for ocr)."""

    def __init__(self, settings: Settings, directory: Directory | None = None, lister: Lister | None = None) -> None:
        self.providers = tuple(_BUILDERS[p.name](p) for p in settings.providers)
        self.directory = directory or Directory()
        self._lister = lister

    def get(self, name: str) -> Provider | None:
        return next((p for p in self.providers if p.name == name), None)

    def ocr_api(self, mode: str) -> Provider | None:
        """The first provider whose OCR API serves `mode`; routing prefers it to any OCR through chat."""
        return next((p for p in self.providers if p.ocr_api is not None and p.ocr_api.purpose(mode)), None)

    def web(self) -> Provider:
        """The provider with web search and fetch; raises ConfigError naming the variable to set."""
        found = next((p for p in self.providers if p.web is not None), None)
        if found is None:
            raise ConfigError(
                "web_search and web_fetch run on DeepSeek's Search and Fetch APIs: set DEEPSEEK_API_KEY in the "
                "server's environment (Atlas Cloud and self-hosted servers have no such API), then restart it."
            )
        return found

    def route(self, tool: ToolKind, model: str | None = None) -> Route:
        """The provider and model id for one call of `tool`, from what is known now (no request is made).
        Raises ConfigError naming the variable to set."""
        candidates = self._candidates(tool, model)
        return candidates if isinstance(candidates, Route) else self._settle(candidates, (model or "").strip())

    async def resolve(self, tool: ToolKind, model: str | None = None) -> Route:
        """As `route`, but an id that several providers could serve is settled by their live model lists."""
        candidates = self._candidates(tool, model)
        if isinstance(candidates, Route):
            return candidates
        wanted = (model or "").strip()
        unknown = [p for p in candidates if self.directory.known(p.name) is None]
        if len(candidates) > 1 and unknown and self._lister is not None and self._served_by(candidates, wanted) is None:
            await self._learn(unknown)
        return self._settle(candidates, wanted)

    def _candidates(self, tool: ToolKind, model: str | None) -> Route | list[Provider]:
        if not self.providers:
            raise ConfigError(
                "No API key is set. Set DEEPSEEK_API_KEY (DeepSeek) or ATLASCLOUD_API_KEY (Atlas Cloud) in the "
                "server's environment, e.g. the `env` block of your IDE's MCP config, then restart the server."
            )
        preferred = self._preferred(tool)
        if not preferred:
            raise ConfigError(self._no_default_message(tool))
        model = (model or "").strip() or None
        if model is None:
            for provider in preferred:
                default = provider.defaults.get(tool)
                if default is not None:
                    return self._route(provider, default)
            raise ConfigError(self._no_default_message(tool))
        prefix, sep, rest = model.partition(":")
        if sep and prefix in _BUILDERS and rest:
            named = self.get(prefix)
            if named is None or named not in preferred:
                raise ConfigError(self._unavailable(tool, prefix))
            return self._route(named, rest)
        return [p for p in preferred if p.takes(model)] or list(preferred[:1])

    def _settle(self, candidates: list[Provider], model: str) -> Route:
        return self._route(self._served_by(candidates, model) or candidates[0], model)

    def _served_by(self, candidates: list[Provider], model: str) -> Provider | None:
        for provider in candidates:
            rows = self.directory.known(provider.name)
            if rows is not None and model in rows:
                return provider
        return None

    async def _learn(self, providers: list[Provider]) -> None:
        lister = self._lister
        assert lister is not None

        async def one(provider: Provider) -> None:
            try:
                self.directory.learn(provider.name, await lister(provider))
            except UpstreamError:  # unreachable now: the id's shape decides, and the call itself will say more
                self.directory.failed(provider.name)

        with anyio.move_on_after(LIST_WAIT):
            async with anyio.create_task_group() as tg:
                for provider in providers:
                    tg.start_soon(one, provider)
        for provider in providers:  # too slow to answer counts as failed: the next call must not wait again
            if self.directory.known(provider.name) is None:
                self.directory.failed(provider.name)

    def _route(self, provider: Provider, model: str) -> Route:
        rows = self.directory.known(provider.name)
        row = rows.get(model) if rows is not None else None
        return Route(provider, model, traits_of(model, row.input_modalities if row else None))

    def _preferred(self, tool: ToolKind) -> tuple[Provider, ...]:
        if tool == "fim":
            return tuple(p for p in self.providers if p.fim_path is not None)
        if tool == "ocr":
            # DeepSeek-OCR's home first (Atlas Cloud's default for ocr is DeepSeek-OCR itself), vision models after.
            native = tuple(p for p in self.providers if traits_of(p.defaults.get("ocr", "")).deepseek_ocr)
            return native + tuple(p for p in self.providers if p not in native)
        return self.providers

    def _unavailable(self, tool: ToolKind, name: str) -> str:
        provider = self.get(name)
        if provider is None:
            return f"Provider {name!r} is not configured: {_key_hint(name)}"
        return f"{tool} is not available on {provider.origin.label}: {self._no_default_message(tool)}"

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
