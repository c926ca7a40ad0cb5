"""`web_search` and `web_fetch`: DeepSeek's Search and Fetch APIs (WIRE.md §13). DeepSeek runs the search and
fetches the page; this server sends it only the query or the URL, and never fetches anything itself.

Both are bounded where they enter (a query's 128 characters, a URL's 8,192 and its scheme are checked before
sending) and where they leave: page text is capped in the result, and a cut says so.
"""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import urlsplit

from mcp.types import CallToolResult, ContentBlock
from pydantic import BaseModel, Field

from mcp_server.core.errors import InputError
from mcp_server.core.quoting import clip
from mcp_server.serving.app import ToolContext, app_of
from mcp_server.spending import pricing
from mcp_server.upstream.errors import BadRequestError, NotFoundError, UpstreamError
from mcp_server.upstream.providers import Provider

from .common import CostOut, block, charged, notice_blocks

MAX_PAGE_CHARS = 60_000  # about 15K tokens of Markdown: a long article, not a whole site dump
MAX_CONTENT_CHARS = 60_000  # all search results' page bodies together (need_content)
_TEXT_FIELD_CHARS = 4_000  # a title, snippet or summary past this is not one (DeepSeek's run to 800)


class SearchResult(BaseModel):
    title: str
    url: str
    snippet: str
    summary: str
    content: str | None  # the page body, only with need_content
    date: str | None
    site: str | None
    rerank_score: float | None  # 0-3; 1.5 and up is a good match
    authority: int | None  # -1..4; 3 and up is an authoritative source


class SearchOutput(BaseModel):
    results: list[SearchResult]
    cost: CostOut
    notices: list[str]


class FetchOutput(BaseModel):
    url: str
    title: str
    markdown: str
    total_chars: int  # of the page as DeepSeek returned it; more than markdown's length when it was cut
    cost: CostOut
    notices: list[str]


async def web_search(
    query: Annotated[str, Field(description="Search terms.", max_length=128)],
    ctx: ToolContext,
    count: Annotated[int, Field(description="How many results.", ge=1, le=50)] = 10,
    need_content: Annotated[bool, Field(description="Include each page's text.")] = False,
) -> Annotated[CallToolResult, SearchOutput]:
    """Search the web with DeepSeek. Query operators: site: -site: "phrase" lang: after:YYYY-MM-DD before:."""
    if not query.strip():
        raise InputError("`query` is empty or only whitespace; pass 1 to 128 characters to search for.")
    provider = app_of(ctx).router.web()
    web = provider.web
    assert web is not None  # Router.web() returns only a provider with the web APIs
    payload: dict[str, Any] = {"query": query, "count": count}
    if need_content:
        payload["need_content"] = True
    async with charged(ctx, "web_search", pricing.SEARCH_PER_CALL) as hold:
        body = await _post(ctx, provider, web.search_path, payload)
        results, notices = _results(body, provider, need_content)
        cost = pricing.per_call("DeepSeek Search API", pricing.SEARCH_PER_CALL, billed=bool(results))
        await hold.settle(cost.usd)
    out = SearchOutput(results=results, cost=CostOut.from_cost(cost), notices=notices)
    content: list[ContentBlock] = [block(_numbered(results), "results"), *notice_blocks(notices)]
    return CallToolResult(content=content, structured_content=out.model_dump())


async def web_fetch(
    url: Annotated[str, Field(description="http(s) URL.", max_length=8192)],
    ctx: ToolContext,
) -> Annotated[CallToolResult, FetchOutput]:
    """Read a web page as Markdown; DeepSeek fetches it, not this machine."""
    url = _checked_url(url)
    provider = app_of(ctx).router.web()
    assert provider.web is not None
    async with charged(ctx, "web_fetch", pricing.FETCH_PER_CALL) as hold:
        body = await _post(ctx, provider, provider.web.fetch_path, {"url": url})
        await hold.settle(pricing.FETCH_PER_CALL)  # billed once answered, whatever the page holds
    if not isinstance(body, dict) or not isinstance(body.get("content"), str):
        raise UpstreamError(
            "answered the Fetch API in an unknown shape (no `content`); try again.", origin=provider.origin
        )
    page: str = body["content"]
    title = _text(body.get("title"))
    notices = []
    if len(page) > MAX_PAGE_CHARS:
        notices.append(
            f"the page has {len(page):,} characters; only the first {MAX_PAGE_CHARS:,} are returned (the rest was "
            "cut here, not by DeepSeek)"
        )
    cost = pricing.per_call("DeepSeek Fetch API", pricing.FETCH_PER_CALL, billed=True)
    out = FetchOutput(
        url=url,
        title=title,
        markdown=page[:MAX_PAGE_CHARS],
        total_chars=len(page),
        cost=CostOut.from_cost(cost),
        notices=notices,
    )
    # Hosts that show only the text still get the title, unless the page already opens with a heading.
    text = f"# {title}\n\n{out.markdown}" if title and not out.markdown.lstrip().startswith("#") else out.markdown
    content: list[ContentBlock] = [block(text, "page"), *notice_blocks(notices)]
    return CallToolResult(content=content, structured_content=out.model_dump())


def _checked_url(url: str) -> str:
    """The Fetch API takes an http(s) URL with a host and no user name or password; refuse the rest before sending."""
    text = url.strip()
    scheme = text.partition(":")[0].lower() if ":" in text else ""
    if scheme not in ("http", "https"):
        shown = f"{clip(scheme, 20)}: URLs" if scheme else "a URL without a scheme"
        raise InputError(f"{shown} cannot be fetched; pass an http:// or https:// URL.")
    try:
        parts = urlsplit(text)
        host = parts.hostname
    except ValueError:
        raise InputError("the URL is not valid (a bad host or port); pass a full http(s) URL.") from None
    if not host or any(c.isspace() or ord(c) < 32 for c in text):
        raise InputError("the URL has no host, or contains spaces or control characters; pass a full http(s) URL.")
    if parts.username is not None or parts.password is not None:
        raise InputError("the URL carries a user name or password, which are not sent anywhere; remove them.")
    return text


async def _post(ctx: ToolContext, provider: Provider, path: str, payload: dict[str, Any]) -> Any:
    try:
        return await app_of(ctx).upstream.post_json(provider, provider.root_url(path), payload)
    except NotFoundError as exc:  # the Fetch API's "failed to fetch URL": the page, not the base URL
        raise UpstreamError(
            f"could not get that page ({exc.upstream_message}): it may not exist, refuse robots, or be on a "
            "private address; try another URL.",
            origin=provider.origin,
            request_id=exc.request_id,
        ) from None
    except BadRequestError as exc:
        raise UpstreamError(
            f"refused the request ({exc.upstream_message}); check the arguments.",
            origin=provider.origin,
            request_id=exc.request_id,
        ) from None


def _results(body: Any, provider: Provider, need_content: bool) -> tuple[list[SearchResult], list[str]]:
    items = body.get("results") if isinstance(body, dict) else None
    if not isinstance(items, list):
        raise UpstreamError(
            "answered the Search API in an unknown shape (no `results`); try again.", origin=provider.origin
        )
    rows = [item for item in items if isinstance(item, dict) and isinstance(item.get("url"), str)]
    budget = MAX_CONTENT_CHARS // max(len(rows), 1)
    cut = 0
    results: list[SearchResult] = []
    for row in rows:
        content = _text(row.get("content"), MAX_CONTENT_CHARS) if need_content else None
        if content is not None and len(content) > budget:
            content, cut = content[:budget], cut + 1
        results.append(_result(row, content))
    notices = ["no results: try other terms or fewer operators (empty results are not billed)"] if not results else []
    if cut:
        notices.append(
            f"{cut} results' page text was cut to {budget:,} characters each (all together stay under "
            f"{MAX_CONTENT_CHARS:,}); web_fetch reads one page whole"
        )
    return results, notices


def _result(row: dict[str, Any], content: str | None) -> SearchResult:
    return SearchResult(
        title=_text(row.get("title")),
        url=row["url"][:8192],
        snippet=_text(row.get("snippet")),
        summary=_text(row.get("summary")),
        content=content,
        date=_text(row.get("date")) or None,
        site=_text(row.get("site_name")) or None,
        rerank_score=_number(row.get("rerank_score")),
        authority=_whole(row.get("authority")),
    )


def _numbered(results: list[SearchResult]) -> str:
    """What a model reads: numbered results, each its summary first, then title, site, date and URL."""
    if not results:
        return "No results."
    entries = []
    for number, r in enumerate(results, 1):
        about = ", ".join(part for part in (r.title, r.site, (r.date or "")[:10]) if part)
        entry = f"{number}. {r.summary or r.snippet}\n   {about} <{r.url}>"
        if r.content:
            entry += f"\n   ---\n{r.content}"
        entries.append(entry)
    return "\n\n".join(entries)


def _text(value: Any, cap: int = _TEXT_FIELD_CHARS) -> str:
    """A string field of the answer, cut to `cap`; "" when absent or not a string."""
    return value[:cap] if isinstance(value, str) else ""


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _whole(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None
