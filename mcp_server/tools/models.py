"""`list_models`: every configured provider's live model list, merged."""

from __future__ import annotations

from typing import Annotated, Any

import anyio
from mcp.types import CallToolResult, TextContent
from pydantic import BaseModel

from mcp_server.app import ToolContext, app_of
from mcp_server.errors import ConfigError
from mcp_server.upstream.client import UpstreamClient
from mcp_server.upstream.errors import UpstreamError
from mcp_server.upstream.providers import TOOL_KINDS, Provider, Router


class ModelEntry(BaseModel):
    id: str
    provider: str
    default_for: list[str]
    context_length: int | None = None
    max_output_tokens: int | None = None
    input_modalities: list[str] | None = None
    features: list[str] | None = None


class ProviderFailure(BaseModel):
    provider: str
    error: str


class ModelsOutput(BaseModel):
    models: list[ModelEntry]
    errors: list[ProviderFailure]


async def list_models(ctx: ToolContext) -> Annotated[CallToolResult, ModelsOutput]:
    """List the model ids each configured provider serves now, and each tool's default."""
    app = app_of(ctx)
    if not app.router.providers:
        app.router.route("chat")  # raises the missing-key error, with the variables to set
    found: dict[str, list[ModelEntry] | UpstreamError] = {}
    defaults = _defaults(app.router)

    async def fetch(provider: Provider) -> None:
        try:
            found[provider.name] = await _fetch(app.upstream, provider, defaults)
        except UpstreamError as exc:
            found[provider.name] = exc

    async with anyio.create_task_group() as tg:
        for provider in app.router.providers:
            tg.start_soon(fetch, provider)
    out = _merge(app.router.providers, found)
    if not out.models and out.errors:
        raise ConfigError("No provider answered: " + "; ".join(e.error for e in out.errors))
    return CallToolResult(content=[TextContent(type="text", text=_table(out))], structured_content=out.model_dump())


def _defaults(router: Router) -> dict[tuple[str, str], list[str]]:
    """(provider, model id) -> the tools that use it when no `model` is given, as routing really decides."""
    found: dict[tuple[str, str], list[str]] = {}
    for tool in TOOL_KINDS:
        try:
            route = router.route(tool)
        except ConfigError:
            continue  # e.g. fim without a DeepSeek key
        found.setdefault((route.provider.name, route.model), []).append(tool)
    return found


async def _fetch(
    upstream: UpstreamClient, provider: Provider, defaults: dict[tuple[str, str], list[str]]
) -> list[ModelEntry]:
    # DeepSeek answers {"object": "list", "data": [...]}, Atlas {"code": 200, "msg": ..., "data": [...]}.
    body = await upstream.get_json(provider, provider.url("models"), auth=provider.models_need_key)
    rows = body.get("data") if isinstance(body, dict) else None
    if not isinstance(rows, list):
        raise UpstreamError("answered /models in an unknown shape; check the base URL.", origin=provider.origin)
    return [_entry(provider.name, row, defaults) for row in rows if _usable(row)]


def _usable(row: Any) -> bool:
    # Atlas lists models that are not deployed yet with is_ready false; calls to them fail.
    return isinstance(row, dict) and isinstance(row.get("id"), str) and row.get("is_ready", True) is not False


def _entry(provider: str, row: dict[str, Any], defaults: dict[tuple[str, str], list[str]]) -> ModelEntry:
    return ModelEntry(
        id=row["id"],
        provider=provider,
        default_for=sorted(defaults.get((provider, row["id"]), [])),
        context_length=_int(row.get("context_length") or row.get("max_model_len")),
        max_output_tokens=_int(row.get("max_output_length")),
        input_modalities=_strings(row.get("input_modalities")),
        features=_strings(row.get("supported_features")),
    )


def _merge(providers: tuple[Provider, ...], found: dict[str, list[ModelEntry] | UpstreamError]) -> ModelsOutput:
    models: list[ModelEntry] = []
    errors: list[ProviderFailure] = []
    for provider in providers:  # routing order, so the preferred provider's models come first
        result = found.get(provider.name)
        if isinstance(result, UpstreamError):
            errors.append(ProviderFailure(provider=provider.name, error=str(result)))
        elif result is not None:
            models.extend(result)
    return ModelsOutput(models=models, errors=errors)


def _table(out: ModelsOutput) -> str:
    lines = [
        f"{m.provider}:{m.id}" + (f"  (default for {', '.join(m.default_for)})" if m.default_for else "")
        for m in out.models
    ]
    lines += [f"{e.provider}: unavailable: {e.error}" for e in out.errors]
    return "\n".join(lines) or "No models listed."


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _strings(value: Any) -> list[str] | None:
    return [str(v) for v in value] if isinstance(value, list) else None
