"""`list_models`: every configured provider's live model list, merged."""

from __future__ import annotations

from typing import Annotated

import anyio
from mcp.types import CallToolResult, TextContent
from pydantic import BaseModel

from mcp_server.core.errors import ConfigError
from mcp_server.serving.app import ToolContext, app_of
from mcp_server.upstream.catalog import ModelRow, traits_of
from mcp_server.upstream.errors import UpstreamError
from mcp_server.upstream.listing import fetch_rows
from mcp_server.upstream.providers import TOOL_KINDS, Provider, Router


class ModelEntry(BaseModel):
    id: str
    provider: str
    default_for: list[str]
    context_length: int | None = None
    max_output_tokens: int | None = None
    input_modalities: list[str] | None = None
    features: list[str] | None = None
    vision: bool | None = None  # reads images (ocr, image parts); None when neither the list nor the id says


class ProviderFailure(BaseModel):
    provider: str
    error: str


class ModelsOutput(BaseModel):
    models: list[ModelEntry]
    errors: list[ProviderFailure]


async def list_models(ctx: ToolContext) -> Annotated[CallToolResult, ModelsOutput]:
    """List the model ids each provider serves now, which read images, and each tool's default."""
    app = app_of(ctx)
    if not app.router.providers:
        app.router.route("chat")  # raises the missing-key error, with the variables to set
    found: dict[str, list[ModelEntry] | UpstreamError] = {}
    defaults = _defaults(app.router)

    async def fetch(provider: Provider) -> None:
        try:
            rows = await fetch_rows(app.upstream, provider)
        except UpstreamError as exc:
            found[provider.name] = exc
            return
        app.router.directory.learn(provider.name, rows)
        found[provider.name] = [_entry(provider.name, row, defaults) for row in rows]

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


def _entry(provider: str, row: ModelRow, defaults: dict[tuple[str, str], list[str]]) -> ModelEntry:
    return ModelEntry(
        id=row.id,
        provider=provider,
        default_for=sorted(defaults.get((provider, row.id), [])),
        context_length=row.context_length,
        max_output_tokens=row.max_output_tokens,
        input_modalities=row.input_modalities,
        features=row.features,
        vision=traits_of(row.id, row.input_modalities).vision,
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
    lines = [f"{m.provider}:{m.id}{_remarks(m)}" for m in out.models]
    lines += [f"{e.provider}: unavailable: {e.error}" for e in out.errors]
    return "\n".join(lines) or "No models listed."


def _remarks(model: ModelEntry) -> str:
    remarks = [f"default for {', '.join(model.default_for)}"] if model.default_for else []
    if model.vision is not None:
        remarks.append("reads images" if model.vision else "text only")
    return f"  ({'; '.join(remarks)})" if remarks else ""
