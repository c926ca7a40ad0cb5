"""What each owner spends, per UTC day and tool, and the limits enforced before anything is sent.

`DEEPSEEK_MCP_MAX_COST_PER_CALL` refuses a call whose estimate already passes it; `DEEPSEEK_MCP_DAILY_BUDGET` refuses
a call when what the owner spent today, plus the estimates of its calls in flight, plus this call's estimate would
pass it. The check and the hold on this call's estimate are one atomic step in the store, so concurrent calls
(in any process or replica on the same store) cannot all slip under the budget: 20 calls at once against a budget
for 10 let through 10.

With a limit set, a request is held at the most it can cost: its prompt and its whole max_tokens (DeepSeek's default
when the caller sets none: 8K, 64K thinking, 128K at effort "max"); where that passes the per-call limit, the request
carries a max_tokens lowered to what the limit leaves (`Spending.bound`). So an answer longer than estimated passes
neither limit (held at a typical answer's length instead, a long one cost 1.3 times the per-call limit, and nine
thinking calls at once 3.6 times the day's budget). A hold is priced at DeepSeek's peak rates when peak hours begin
before the call's deadline (`pricing.held_at`): a call sent off-peak and answered at peak is charged at peak, and
held at the price of when it was sent it cost twice the per-call limit. What remains is the prompt's estimate
(0.3 tokens a character) against the provider's count. Without a limit, nothing is held and the estimate only describes.

A hold left by a crashed call stops counting after an hour (`state.base.HOLD_SECONDS`). A model with no known price (an
Atlas Cloud model) is estimated, and with a limit set also recorded, at the highest known rates (`pricing.ceiling`),
so naming one never passes a limit. A call stopped or failed after its request was sent (the call deadline, a broken
stream) is recorded at its estimate instead of released: the provider may have billed it. Only errors that say the
provider refused the request (an HTTP status, a connection never made) release the hold.

The API, for a tool and for a loop that runs many model turns in one call (`investigate`):

    spending = app.spending
    await spending.check(owner, estimate_usd, already=spent_so_far_in_this_call)  # raises BudgetError
    async with spending.hold(owner, "investigate", estimate_usd) as hold:      # raises BudgetError
        ... one model turn ...
        await hold.settle(cost_usd, saved_usd)   # recorded against the day; an unsettled hold is released
    await spending.record(owner, "investigate", cost_usd)                         # a cost with no hold

`check` does not hold anything: a loop calls it between turns to stop at the per-call limit with its best answer.
`Spend(spending, owner, tool).priced(route, messages, thinking, already, send)` does the hold and the settling
around one model request of a loop or a check (mcp_server/agent/loop.py, mcp_server/review/check.py); `send` takes
the max_tokens the request must carry. `Spending.bound(route, messages, max_tokens, thinking=...)` gives what one chat
request is held at (and that max_tokens); `Spending.charge` the cost of a finished one as it counts against the
limits.
"""

from __future__ import annotations

import logging
import secrets
import time
from collections import defaultdict
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import anyio

from mcp_server.core.config import DAILY_BUDGET_ENV, MAX_COST_ENV, Settings
from mcp_server.core.errors import DeepSeekMCPError
from mcp_server.spending.pricing import cache_saving, ceiling, held_at
from mcp_server.spending.pricing import estimate as price_of
from mcp_server.spending.tokens import estimate_messages
from mcp_server.state import Spent, Store
from mcp_server.state.base import Cost
from mcp_server.state.saving import LATER_COSTS
from mcp_server.upstream.completion import Completion, Usage
from mcp_server.upstream.errors import APITimeoutError, StreamError
from mcp_server.upstream.providers import Route

log = logging.getLogger(__name__)
# Output tokens assumed when a call sets no max_tokens and no limit is set: a typical answer, and a typical thinking
# trace plus answer (what is recorded is the real cost; these only estimate it).
OUTPUT_ESTIMATE = 4096
THINKING_OUTPUT_ESTIMATE = 16384
# With a limit set, a call is held at the most it can cost: DeepSeek's max_tokens when a request sets none (WIRE.md,
# "Limits & pricing"): 8K without thinking, 64K thinking, 128K thinking at effort "max".
DEFAULT_MAX_TOKENS = 8192
THINKING_MAX_TOKENS = 65536
MAX_EFFORT_MAX_TOKENS = 131072
MIN_CAPPED = 256  # tokens of answer: a call the per-call limit would cap below this is refused instead
SETTLE_SECONDS = 10.0  # the most a stopped call waits to record its cost (shielded from the stop)


class BudgetError(DeepSeekMCPError):
    """A spending limit refused the call before anything was sent."""


def estimate(route: Route, messages: list[dict[str, Any]], max_tokens: int | None, *, thinking: bool) -> float | None:
    """USD for one chat request, every prompt token priced as a cache miss; a model with no price at the highest
    known rates (it must not pass the limits by having none)."""
    output = max_tokens or (THINKING_OUTPUT_ESTIMATE if thinking else OUTPUT_ESTIMATE)
    prompt = estimate_messages(messages)
    usage = Usage(prompt_tokens=prompt, cache_miss_tokens=prompt, completion_tokens=output)
    cost = price_of(route.provider.name, route.model, usage)
    return ceiling(usage) if cost is None else cost.usd


def most_output(thinking: bool, effort: str | None = None) -> int:
    """The most output a request that sets no max_tokens can bill: DeepSeek's default for its mode."""
    if not thinking:
        return DEFAULT_MAX_TOKENS
    return MAX_EFFORT_MAX_TOKENS if effort == "max" else THINKING_MAX_TOKENS


@dataclass(frozen=True)
class Bound:
    """What one model request is held at, and the max_tokens it must carry for that to be the most it can cost."""

    usd: float
    max_tokens: int | None  # None: as the caller asked (or the provider's default, which `usd` covers)
    capped: bool = False  # the per-call limit lowered max_tokens below what the caller (or the default) allowed


def capped_notice(bound: Bound, per_call: float | None) -> str | None:
    """What the result says when the per-call limit lowered the request's max_tokens."""
    if not bound.capped or bound.max_tokens is None or per_call is None:
        return None
    return (
        f"The answer could run to {bound.max_tokens:,} tokens at most: that is what {MAX_COST_ENV} (${per_call:g}) "
        f"left this call; pass a lower max_tokens, or raise {MAX_COST_ENV}."
    )


def refused(exc: BaseException) -> bool:
    """Whether the provider cannot have billed a call that failed with `exc`: it refused the request (an HTTP
    status), was never reached, or the call failed on its own input. A stop (the call deadline), a broken or silent
    stream and anything unexpected after sending may have been billed."""
    if isinstance(exc, StreamError | APITimeoutError):
        return False
    return isinstance(exc, DeepSeekMCPError)


@dataclass
class Hold:
    """One call's place in the budget; `settle` records what it cost."""

    spending: Spending
    owner: str
    tool: str
    day: str
    id: str | None  # None: nothing was held (no budget set)
    settled: bool = False

    async def settle(self, usd: float | None, saved: float = 0.0) -> None:
        self.settled = True
        await self.spending._spend(self.owner, self.day, self.tool, usd or 0.0, saved, self.id)


@dataclass
class Period:
    usd: float = 0.0
    saved: float = 0.0
    calls: int = 0
    by_tool: dict[str, tuple[float, int]] = field(default_factory=dict)  # tool -> (usd, calls)


class Spending:
    """Records and limits, on the state store."""

    def __init__(self, store: Store, settings: Settings, clock: Callable[[], float] = time.time) -> None:
        self.store = store
        self.per_call = settings.max_cost_per_call
        self.daily = settings.daily_budget
        self.horizon = settings.limits.call_seconds  # a call may be charged any time until its deadline
        self._clock = clock

    def _now(self) -> datetime:
        return datetime.fromtimestamp(self._clock(), UTC)

    def bound(
        self,
        route: Route,
        messages: list[dict[str, Any]],
        max_tokens: int | None,
        *,
        thinking: bool,
        effort: str | None = None,
        already: float = 0.0,
    ) -> Bound:
        """What one chat request is held at. With no limit set, the usual estimate. With one, the most it can cost:
        its prompt and the answer's whole max_tokens (the provider's default when the caller sets none), so neither
        limit is passed by an answer longer than estimated; and where that passes the per-call limit (after
        `already` spent in this call), max_tokens lowered to what the limit leaves, for the request to carry; a
        max_tokens the caller chose is theirs: past the limit, the call is refused saying so, never cut short."""
        if self.per_call is None and self.daily is None:
            return Bound(estimate(route, messages, max_tokens, thinking=thinking) or 0.0, max_tokens)
        prompt = estimate_messages(messages)
        output = max_tokens or most_output(thinking, effort)
        at = held_at(self.horizon)  # priced as it may be charged: at peak, if peak hours begin before its deadline
        usd = _priced(route, prompt, output, at)
        if self.per_call is None or already + usd <= self.per_call or max_tokens is not None:
            return Bound(usd, max_tokens)  # past the limit with the caller's max_tokens: `hold` refuses it
        per_token = _priced(route, 0, 1_000_000, at) / 1_000_000
        fits = int((self.per_call - already - _priced(route, prompt, 0, at)) / per_token) if per_token > 0 else 0
        while fits > 0 and already + _priced(route, prompt, fits, at) > self.per_call:  # prices are rounded
            fits -= 1
        if fits < min(output, MIN_CAPPED):
            return Bound(usd, max_tokens)  # `hold` refuses it, saying what it would cost
        return Bound(_priced(route, prompt, fits, at), fits, capped=True)

    async def check(self, owner: str, estimate_usd: float | None, already: float = 0.0) -> None:
        """Raise BudgetError if `estimate_usd` more (after `already` in this call) passes either limit."""
        async with self.hold(owner, "check", estimate_usd, already=already):
            pass

    @asynccontextmanager
    async def hold(
        self, owner: str, tool: str, estimate_usd: float | None, already: float = 0.0
    ) -> AsyncIterator[Hold]:
        """Refuse now if the call would pass a limit; otherwise hold its estimate against the day until settled."""
        usd = estimate_usd or 0.0
        if self.per_call is not None and estimate_usd is not None and already + usd > self.per_call:
            raise BudgetError(
                f"this call is estimated at ${already + usd:.4f}, over the ${self.per_call:g} a call may cost "
                f"({MAX_COST_ENV}); lower max_tokens or send less, or raise {MAX_COST_ENV}"
            )
        now = self._now()
        day = now.date().isoformat()
        hold_id = None
        if self.daily is not None:
            hold_id = secrets.token_hex(8)
            found = await self.store.hold(owner, day, hold_id, usd, self.daily, now.timestamp())
            if found is not None:
                raise BudgetError(self._over(found, usd, now))
        held = Hold(self, owner, tool, day, hold_id)
        try:
            yield held
        except BaseException as exc:
            if not held.settled:
                held.settled = True
                # Shielded, so a call stopped at its deadline still records (or frees) its place; bounded.
                with anyio.CancelScope(shield=True), anyio.move_on_after(SETTLE_SECONDS):
                    if refused(exc):
                        await self._release(owner, day, hold_id)
                    else:
                        await self._spend(owner, day, tool, usd, 0.0, hold_id)
            raise
        finally:
            if not held.settled:
                await self._release(owner, day, hold_id)

    async def _release(self, owner: str, day: str, hold_id: str | None) -> None:
        if hold_id is None:
            return
        try:
            await self.store.release(owner, day, hold_id)
        except DeepSeekMCPError as exc:  # it expires by itself within the hour
            log.warning("could not release a budget hold: %s", exc)

    def _over(self, spent: float, usd: float, now: datetime) -> str:
        midnight = datetime.combine(now.date() + timedelta(days=1), datetime.min.time(), UTC)
        left = int((midnight - now).total_seconds() // 60)
        return (
            f"the daily budget is spent: ${spent:.4f} today including calls in flight, and this call's estimate "
            f"${usd:.4f} would pass the ${self.daily:g} set by {DAILY_BUDGET_ENV}; it resets at 00:00 UTC "
            f"(in {left // 60}h {left % 60:02d}m), or raise {DAILY_BUDGET_ENV}"
        )

    def held(self, provider: str, model: str, usage: Usage) -> float | None:
        """What a request of `usage` not yet sent is held at: `charge` at the highest price that may apply before
        the call's deadline (peak hours beginning meanwhile)."""
        cost = price_of(provider, model, usage, held_at(self.horizon))
        if cost is not None:
            return cost.usd
        if self.per_call is None and self.daily is None:
            return None
        return ceiling(usage)

    def charge(self, provider: str, model: str, usage: Usage) -> float | None:
        """What one finished request counts against the limits: its price, or for a model with no price (and a
        limit set) the highest known rates; None when it has no price and no limit is set."""
        cost = price_of(provider, model, usage)
        if cost is not None:
            return cost.usd
        if self.per_call is None and self.daily is None:
            return None
        return ceiling(usage)

    async def record(self, owner: str, tool: str, usd: float | None, saved: float = 0.0) -> None:
        """Record a cost that had no hold (best effort: the call is already paid for)."""
        await self._spend(owner, self._now().date().isoformat(), tool, usd or 0.0, saved, None)

    async def _spend(self, owner: str, day: str, tool: str, usd: float, saved: float, hold_id: str | None) -> None:
        later = LATER_COSTS.get()
        if hold_id is None and later is not None:
            # No hold to replace, so nothing waits for it: recorded with the conversation's save, after the answer.
            later.append(Cost(owner, day, tool, usd, saved))
            return
        try:
            await self.store.spend(owner, day, tool, usd, saved, hold_id)
        except DeepSeekMCPError as exc:
            log.warning("could not record a call's cost of $%.6f: %s", usd, exc)

    async def report(self, owner: str) -> tuple[Period, Period]:
        """What `owner` spent today and this month (UTC), by tool."""
        today = self._now().date()
        days = [today.replace(day=d).isoformat() for d in range(1, today.day + 1)]
        rows = await self.store.spent(owner, days)
        return _period([r for r in rows if r.day == today.isoformat()]), _period(rows)


def _priced(route: Route, prompt: int, output: int, at: datetime) -> float:
    """USD for a request of `prompt` tokens (all cache misses) and `output` tokens of answer, at the prices of `at`;
    a model with no price at the highest known rates."""
    usage = Usage(prompt_tokens=prompt, cache_miss_tokens=prompt, completion_tokens=output)
    cost = price_of(route.provider.name, route.model, usage, at)
    return ceiling(usage) if cost is None else cost.usd


def _period(rows: list[Spent]) -> Period:
    period = Period()
    tools: dict[str, list[float]] = defaultdict(lambda: [0.0, 0])
    for row in rows:
        period.usd += row.usd
        period.saved += row.saved
        period.calls += row.calls
        tools[row.tool][0] += row.usd
        tools[row.tool][1] += row.calls
    period.by_tool = {tool: (round(usd, 8), int(calls)) for tool, (usd, calls) in sorted(tools.items())}
    return period


@dataclass(frozen=True)
class Spend:
    """Whose limits the model requests of one call count against, and under which tool."""

    spending: Spending
    owner: str
    tool: str

    async def priced(
        self,
        route: Route,
        messages: list[dict[str, Any]],
        thinking: bool,
        already: float,
        send: Callable[[int | None], Awaitable[Completion]],
        effort: str | None = None,
    ) -> tuple[Completion, float]:
        """One request held against the limits (after `already` spent in this call), sent with the max_tokens its
        hold covers (`Spending.bound`; None: none to set), and settled; returns the completion and its cost in USD
        (0 for a model with no price). Raises BudgetError before sending."""
        bound = self.spending.bound(route, messages, None, thinking=thinking, effort=effort, already=already)
        async with self.spending.hold(self.owner, self.tool, bound.usd, already=already) as hold:
            completion = await send(bound.max_tokens)
            provider, model = route.provider.name, route.model
            cost = self.spending.charge(provider, model, completion.usage)
            await hold.settle(cost, cache_saving(provider, model, completion.usage))
        return completion, cost or 0.0
