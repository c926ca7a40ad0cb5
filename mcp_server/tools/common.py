"""Output shapes and helpers shared by the tools."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from mcp.types import TextContent
from pydantic import BaseModel

from mcp_server.serving.app import ToolContext, app_of, owner_of
from mcp_server.spending.budgets import Hold
from mcp_server.spending.pricing import Cost, estimate
from mcp_server.upstream.completion import Usage

META_KIND = "deepseek-mcp/kind"


class UsageOut(BaseModel):
    prompt_tokens: int
    completion_tokens: int
    reasoning_tokens: int
    cache_hit_tokens: int
    cache_miss_tokens: int
    total_tokens: int

    @classmethod
    def of(cls, usage: Usage) -> UsageOut:
        return cls(
            prompt_tokens=usage.prompt_tokens,
            completion_tokens=usage.completion_tokens,
            reasoning_tokens=usage.reasoning_tokens,
            cache_hit_tokens=usage.cache_hit_tokens,
            cache_miss_tokens=usage.cache_miss_tokens,
            total_tokens=usage.total_tokens,
        )


class CostOut(BaseModel):
    usd: float | None  # None: no price is known, and `basis` says so (never a guess)
    estimate: bool = True
    basis: str

    @classmethod
    def of(cls, provider: str, model: str, usage: Usage) -> CostOut:
        """An estimate from the price table; `usd` None for a model with no known price."""
        cost = estimate(provider, model, usage)
        if cost is None:
            return cls(usd=None, basis=f"no price known for {provider}:{model[:100]} (see pricing.py)")
        return cls.from_cost(cost)

    @classmethod
    def from_cost(cls, cost: Cost) -> CostOut:
        return cls(usd=cost.usd, basis=cost.basis)


def block(text: str, kind: str) -> TextContent:
    """A text block tagged in `_meta` so a client can tell reasoning, answer and notices apart."""
    meta: dict[str, Any] = {META_KIND: kind}
    return TextContent(type="text", text=text, _meta=meta)


_FINISH_NOTICES = {
    "length": "The answer stopped at max_tokens (finish_reason=length); raise max_tokens to get the rest.",
    "content_filter": "The provider's content filter cut the answer (finish_reason=content_filter).",
    "insufficient_system_resource": (
        "The provider ran out of capacity and cut the answer (finish_reason=insufficient_system_resource); try again."
    ),
    "aborted": "The provider aborted the answer (finish_reason=aborted); try again.",
}


def notice_blocks(notices: list[str]) -> list[TextContent]:
    """The notices as one content block (none when there are none), for hosts that show only the content: each on a
    line of its own, since not every notice ends in a full stop."""
    return [block("\n".join(notices), "notice")] if notices else []


_EMPTY = "The model returned an empty answer; try rephrasing or asking again."


def finish_notice(finish_reason: str | None, answer: str, *, empty: str = _EMPTY, code: bool = False) -> str | None:
    """A one-line notice for an answer that did not end normally, or None. In `code`, whitespace is an answer."""
    notice = _FINISH_NOTICES.get(finish_reason or "")
    if notice is None and not (answer if code else answer.strip()):
        notice = empty
    return notice


@asynccontextmanager
async def charged(ctx: ToolContext, tool: str, estimate_usd: float | None) -> AsyncIterator[Hold]:
    """The caller's spending limits checked (and this call's estimate held) before anything is sent; settle the
    hold with the call's cost, or it is released (recorded at the estimate when the call failed after sending)."""
    async with app_of(ctx).spending.hold(owner_of(ctx), tool, estimate_usd) as hold:
        yield hold
