"""Cost estimates from usage, with the price tables kept here as data.

Token prices: DeepSeek's pricing page (api-docs.deepseek.com/quick_start/pricing, read 2026-11-15; WIRE.md §13), USD
per million tokens. Peak hours are 01:00-04:00 and 06:00-10:00 UTC, Monday to Friday; other hours cost half.
`deepseek-v4-pro` is V4-Pro-0813, billed at its own prices: the 2026-09-14 "reroute to Flash" (WIRE.md §0) never
applied to billing. A model not in the table gets no price rather than a wrong one.

Tool prices (same page): Search and Fetch cost $0.75 per 1,000 successful calls; empty results and errors are free.
The OCR API's price is published in CNY only: 1.5 CNY per 1,000 pages (the Chinese pricing page, "文件解析、OCR API").
DeepSeek prices Search at 5 CNY and $0.75, a ratio of 1 : 0.15, and the same ratio gives $0.225 per 1,000 pages:
the figure a third party reported (WIRE.md §13). So it is used, as an estimate that says where it comes from, not
left out: the CNY price is DeepSeek's own, only its conversion is ours (V4-Pro's CNY/USD ratio differs by 2%).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from mcp_server.upstream.completion import Usage

PRICES_AS_OF = "2026-11-15"


@dataclass(frozen=True)
class Price:
    """USD per million tokens at peak hours; off-peak is half of each."""

    cache_hit: float
    cache_miss: float
    output: float


_FLASH = Price(cache_hit=0.006, cache_miss=0.30, output=1.20)
_V4_PRO = Price(cache_hit=0.044, cache_miss=1.32, output=3.96)  # V4-Pro-0813: off-peak 0.022 / 0.66 / 1.98

# Keyed by (provider, model id). Ids are the ones DeepSeek accepts today and bills at these prices.
PEAK_PRICES: dict[tuple[str, str], Price] = {
    ("deepseek", "deepseek-flash"): _FLASH,
    ("deepseek", "deepseek-v4-flash"): _FLASH,  # retired id, served by V4.1-Flash at Flash prices
    ("deepseek", "deepseek-v4-flash-vision-exp"): _FLASH,
    ("deepseek", "deepseek-v4-pro"): _V4_PRO,
}

# USD per successful call or page, at any hour (these have no peak prices).
SEARCH_PER_CALL = 0.75 / 1000
FETCH_PER_CALL = 0.75 / 1000
OCR_API_PER_PAGE = 1.5 * 0.15 / 1000  # 1.5 CNY per 1,000 pages at DeepSeek's own 5 CNY = $0.75 ratio (see above)
OCR_API_BASIS = "1.5 CNY per 1,000 pages (DeepSeek's CNY price; no USD price is published) ~ $0.225 per 1,000"

_PEAK_HOURS = frozenset([1, 2, 3, 6, 7, 8, 9])


@dataclass(frozen=True)
class Cost:
    usd: float
    basis: str


def is_peak(moment: datetime) -> bool:
    """Whether DeepSeek's peak prices apply at `moment` (aware datetimes; naive ones are taken as UTC)."""
    utc = moment.astimezone(UTC) if moment.tzinfo else moment.replace(tzinfo=UTC)
    return utc.weekday() < 5 and utc.hour in _PEAK_HOURS


def held_at(seconds: float) -> datetime:
    """The moment to price a cost at that may be charged any time in the next `seconds` (a call's deadline): one in
    peak hours when any of that time is, else now. A call sent off-peak and answered at peak is charged at peak."""
    now = datetime.now(UTC)
    end = now + timedelta(seconds=min(seconds, 7 * 86400))  # every week has peak hours
    probe = now
    while probe < end:  # peak hours come in runs of 3 and 4 hours: half-hour steps find each
        if is_peak(probe):
            return probe
        probe += timedelta(minutes=30)
    return end if is_peak(end) else now


def estimate(provider: str, model: str, usage: Usage, at: datetime | None = None) -> Cost | None:
    """The estimated USD cost of one call, or None when the model's price is not known."""
    price = PEAK_PRICES.get((provider, model))
    if price is None:
        return None
    peak = is_peak(at or datetime.now(UTC))
    factor = 1.0 if peak else 0.5
    usd = (
        (
            usage.cache_hit_tokens * price.cache_hit
            + usage.cache_miss_tokens * price.cache_miss
            + usage.completion_tokens * price.output
        )
        * factor
        / 1_000_000
    )
    period = "peak" if peak else "off-peak"
    basis = (
        f"{model} {period}, USD per 1M tokens: cache hit {price.cache_hit * factor:g}, "
        f"cache miss {price.cache_miss * factor:g}, output {price.output * factor:g} (prices of {PRICES_AS_OF})"
    )
    return Cost(usd=round(usd, 8), basis=basis)


def ceiling(usage: Usage) -> float:
    """USD for `usage` at the highest known peak rates: what a model with no price counts for against the limits."""
    hit = max(p.cache_hit for p in PEAK_PRICES.values())
    miss = max(p.cache_miss for p in PEAK_PRICES.values())
    out = max(p.output for p in PEAK_PRICES.values())
    usd = usage.cache_hit_tokens * hit + usage.cache_miss_tokens * miss + usage.completion_tokens * out
    return round(usd / 1_000_000, 8)


def per_call(api: str, per_call_usd: float, billed: bool) -> Cost:
    """One call of a tool API billed per successful call; `billed` is False for the calls DeepSeek does not bill."""
    price = f"{api}, ${per_call_usd * 1000:g} per 1,000 successful calls (prices of {PRICES_AS_OF})"
    if not billed:
        return Cost(usd=0.0, basis=f"{price}; empty results are not billed")
    return Cost(usd=round(per_call_usd, 8), basis=price)


def ocr_pages(pages: int) -> Cost:
    """DeepSeek's OCR API for `pages` pages."""
    noun = "page" if pages == 1 else "pages"
    return Cost(usd=round(pages * OCR_API_PER_PAGE, 8), basis=f"{pages} {noun} at {OCR_API_BASIS} ({PRICES_AS_OF})")


def cache_saving(provider: str, model: str, usage: Usage, at: datetime | None = None) -> float:
    """USD the prefix cache saved on one call: its cache-hit tokens at the miss price less the hit price."""
    price = PEAK_PRICES.get((provider, model))
    if price is None:
        return 0.0
    factor = 1.0 if is_peak(at or datetime.now(UTC)) else 0.5
    return round(usage.cache_hit_tokens * (price.cache_miss - price.cache_hit) * factor / 1_000_000, 8)
