"""Cost estimates from usage, with the price table kept here as data.

Source: DeepSeek's pricing page (WIRE.md §0, fetched 2026-09-11), USD per million tokens. Peak hours are
01:00-04:00 and 06:00-10:00 UTC, Monday to Friday; other hours cost half. Since 2026-09-14 DeepSeek serves and
bills every `deepseek-v4-pro` request as V4.1-Flash, so that id is priced as Flash until DeepSeek says otherwise.
A model not in the table gets no cost rather than a wrong one.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from mcp_server.upstream.completion import Usage

PRICES_AS_OF = "2026-09-14"


@dataclass(frozen=True)
class Price:
    """USD per million tokens at peak hours; off-peak is half of each."""

    cache_hit: float
    cache_miss: float
    output: float


_FLASH = Price(cache_hit=0.006, cache_miss=0.30, output=1.20)

# Keyed by (provider, model id). Ids are the ones DeepSeek accepts today and bills at these prices.
PEAK_PRICES: dict[tuple[str, str], Price] = {
    ("deepseek", "deepseek-flash"): _FLASH,
    ("deepseek", "deepseek-v4-flash"): _FLASH,
    ("deepseek", "deepseek-v4-flash-vision-exp"): _FLASH,
    ("deepseek", "deepseek-v4-pro"): _FLASH,  # rerouted to V4.1-Flash and billed as Flash since 2026-09-14
}

_PEAK_HOURS = frozenset([1, 2, 3, 6, 7, 8, 9])


@dataclass(frozen=True)
class Cost:
    usd: float
    basis: str


def is_peak(moment: datetime) -> bool:
    """Whether DeepSeek's peak prices apply at `moment` (aware datetimes; naive ones are taken as UTC)."""
    utc = moment.astimezone(UTC) if moment.tzinfo else moment.replace(tzinfo=UTC)
    return utc.weekday() < 5 and utc.hour in _PEAK_HOURS


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
