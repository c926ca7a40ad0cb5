"""`fim`: fill-in-the-middle code completion on DeepSeek's beta endpoint (WIRE.md §5)."""

from __future__ import annotations

from typing import Annotated, Any

from mcp.types import CallToolResult, ContentBlock
from pydantic import BaseModel, Field

from mcp_server.core.config import MAX_PROMPT_CHARS
from mcp_server.serving.app import ToolContext, app_of, reporter_for
from mcp_server.spending.tokens import estimate as estimate_tokens
from mcp_server.upstream.completion import Usage

from .common import CostOut, UsageOut, block, charged, finish_notice, notice_blocks

FIM_MAX_TOKENS = 4096  # DeepSeek's FIM limit (WIRE.md §5)


class FimOutput(BaseModel):
    completion: str
    model: str
    finish_reason: str | None
    usage: UsageOut
    cost: CostOut
    notices: list[str]


async def fim(
    prefix: Annotated[str, Field(description="Code before the gap.", min_length=1, max_length=MAX_PROMPT_CHARS)],
    ctx: ToolContext,
    suffix: Annotated[str | None, Field(description="Code after the gap.", max_length=MAX_PROMPT_CHARS)] = None,
    max_tokens: Annotated[int | None, Field(description="Output token cap.", ge=1, le=FIM_MAX_TOKENS)] = None,
    model: Annotated[str | None, Field(description="Model id. Default deepseek-flash.")] = None,
) -> Annotated[CallToolResult, FimOutput]:
    """Fill in the middle: code between a prefix and an optional suffix. Returns only the inserted text."""
    app = app_of(ctx)
    route = await app.router.resolve("fim", model)
    assert route.provider.fim_path is not None  # routing for fim chooses among providers that have one
    payload: dict[str, Any] = {"model": route.model, "prompt": prefix, "stream": True}
    if suffix:
        payload["suffix"] = suffix
    if max_tokens is not None:
        payload["max_tokens"] = max_tokens
    reporter = reporter_for(ctx, "fim")
    prompt = estimate_tokens(prefix + (suffix or ""))
    usage = Usage(prompt_tokens=prompt, cache_miss_tokens=prompt, completion_tokens=max_tokens or FIM_MAX_TOKENS)
    estimate_usd = app.spending.held(route.provider.name, route.model, usage)
    async with charged(ctx, "fim", estimate_usd) as hold:
        async with reporter.running():
            url = route.provider.root_url(route.provider.fim_path)
            completion = await app.upstream.stream(
                route.provider, url, payload, observer=reporter, on_retry=reporter.notice
            )
        await hold.settle(app.spending.charge(route.provider.name, route.model, completion.usage))
    notice = finish_notice(completion.finish_reason, completion.content, empty=_EMPTY, code=True)
    out = FimOutput(
        completion=completion.content,
        model=completion.model or route.model,
        finish_reason=completion.finish_reason,
        usage=UsageOut.of(completion.usage),
        cost=CostOut.of(route.provider.name, route.model, completion.usage),
        notices=[notice] if notice else [],
    )
    content: list[ContentBlock] = [block(completion.content, "completion"), *notice_blocks(out.notices)]
    return CallToolResult(content=content, structured_content=out.model_dump())


_EMPTY = "The model inserted nothing: the gap may already be complete, or give more of the prefix or suffix."
