"""`balance`: what is left on each configured account, amounts reported exactly as the provider wrote them."""

from __future__ import annotations

from typing import Annotated, Any

import anyio
from mcp.types import CallToolResult, TextContent
from pydantic import BaseModel

from mcp_server.core.errors import ConfigError, DeepSeekMCPError
from mcp_server.serving.app import AppContext, ToolContext, app_of, owner_of
from mcp_server.spending.budgets import Period
from mcp_server.upstream.client import UpstreamClient
from mcp_server.upstream.errors import UpstreamError
from mcp_server.upstream.providers import Provider


class Amount(BaseModel):
    currency: str
    total: str
    details: dict[str, str]


class AccountBalance(BaseModel):
    provider: str
    available: bool | None = None
    balances: list[Amount] = []
    error: str | None = None


class BalanceOutput(BaseModel):
    accounts: list[AccountBalance]
    # What this owner spent through this server (today, this month, by tool) and what the prefix cache saved; a
    # plain dict: a typed model would cost its schema in tools/list on every turn.
    spent: dict[str, Any] | None = None


async def balance(ctx: ToolContext) -> Annotated[CallToolResult, BalanceOutput]:
    """Account balances per currency, and what this server spent today and this month."""
    app = app_of(ctx)
    providers = [p for p in app.router.providers if p.balance is not None]
    if not providers:
        raise ConfigError("balance needs DEEPSEEK_API_KEY or ATLASCLOUD_API_KEY (self-hosted servers have none).")
    accounts: dict[str, AccountBalance] = {}

    async def fetch(provider: Provider) -> None:
        try:
            accounts[provider.name] = await _READERS[provider.balance or ""](app.upstream, provider)
        except UpstreamError as exc:
            accounts[provider.name] = AccountBalance(provider=provider.name, error=str(exc))

    async with anyio.create_task_group() as tg:
        for provider in providers:
            tg.start_soon(fetch, provider)
    out = BalanceOutput(accounts=[accounts[p.name] for p in providers], spent=await _spent(app, owner_of(ctx)))
    if all(a.error for a in out.accounts):
        raise ConfigError("; ".join(a.error or "" for a in out.accounts))
    text = "\n".join([_text(out), spent_text(out.spent)])
    return CallToolResult(content=[TextContent(type="text", text=text)], structured_content=out.model_dump())


async def _spent(app: AppContext, owner: str) -> dict[str, Any]:
    await app.conversations.drain()  # the costs of this server's last calls are recorded after their answers
    try:
        today, month = await app.spending.report(owner)
    except DeepSeekMCPError as exc:  # the store is down: the balances still come back
        return {"error": str(exc), "store": _store(app)}
    return {
        "today": _period(today),
        "month": _period(month),
        "daily_budget_usd": app.spending.daily,
        "max_cost_per_call_usd": app.spending.per_call,
        "store": _store(app),
    }


def _store(app: AppContext) -> str:
    """Which store keeps the spending: its path or URL for the local user, only its kind for HTTP callers (the
    server's home folder or Redis host is not theirs to learn)."""
    name = app.spending.store.name
    if not app.settings.serves_http or name == "memory":
        return name
    return name.partition("://")[0] if "://" in name else "sqlite"


def _period(period: Period) -> dict[str, Any]:
    return {
        "usd": round(period.usd, 6),
        "cache_saved_usd": round(period.saved, 6),
        "calls": period.calls,
        "by_tool": {tool: {"usd": round(usd, 6), "calls": calls} for tool, (usd, calls) in period.by_tool.items()},
    }


def spent_text(spent: dict[str, Any] | None) -> str:
    """One line per period: what was spent, on which tools, and what the prefix cache saved."""
    if not spent or "error" in spent:
        return f"spent through this server: unknown ({spent.get('error') if spent else 'no store'})"
    lines = []
    for name in ("today", "month"):
        period = spent[name]
        tools = ", ".join(f"{tool} ${row['usd']:.4f} ({row['calls']})" for tool, row in period["by_tool"].items())
        when = "today" if name == "today" else "this month"
        lines.append(
            f"spent {when} (UTC) through this server: ${period['usd']:.4f} in {period['calls']} call(s)"
            f"{': ' + tools if tools else ''}; the prefix cache saved ${period['cache_saved_usd']:.4f}"
        )
    if spent["daily_budget_usd"] is not None:
        left = max(spent["daily_budget_usd"] - spent["today"]["usd"], 0.0)
        lines.append(f"daily budget ${spent['daily_budget_usd']:g}: ${left:.4f} left today")
    return "\n".join(lines)


async def _deepseek(upstream: UpstreamClient, provider: Provider) -> AccountBalance:
    body = await upstream.get_json(provider, provider.root_url("user/balance"))
    infos = body.get("balance_infos") if isinstance(body, dict) else None
    if not isinstance(infos, list):
        raise UpstreamError("answered /user/balance in an unknown shape.", origin=provider.origin)
    amounts = [
        Amount(
            currency=str(info.get("currency", "?")),
            total=str(info.get("total_balance", "")),
            details={k: str(info[k]) for k in ("granted_balance", "topped_up_balance") if k in info},
        )
        for info in infos
        if isinstance(info, dict)
    ]
    return AccountBalance(provider=provider.name, available=bool(body.get("is_available")), balances=amounts)


async def _atlas(upstream: UpstreamClient, provider: Provider) -> AccountBalance:
    body = await upstream.get_json(provider, provider.root_url("public/v1/balance"))
    data = body.get("data", body) if isinstance(body, dict) else None
    available = data.get("available") if isinstance(data, dict) else None
    if not isinstance(data, dict) or not isinstance(available, dict):
        raise UpstreamError("answered /public/v1/balance in an unknown shape.", origin=provider.origin)
    details = {k: str(v["value"]) for k, v in data.items() if isinstance(v, dict) and "value" in v and k != "available"}
    amount = Amount(
        currency=str(available.get("currency", "usd")).upper(), total=str(available.get("value", "")), details=details
    )
    return AccountBalance(provider=provider.name, available=_positive(amount.total), balances=[amount])


_READERS: dict[str, Any] = {"deepseek": _deepseek, "atlas": _atlas}


def _positive(value: str) -> bool | None:
    try:
        return float(value) > 0
    except ValueError:
        return None


def _text(out: BalanceOutput) -> str:
    lines: list[str] = []
    for account in out.accounts:
        if account.error:
            lines.append(f"{account.provider}: {account.error}")
            continue
        amounts = ", ".join(f"{a.total} {a.currency}" for a in account.balances) or "no balance"
        state = "" if account.available is None else (" (usable)" if account.available else " (not usable)")
        lines.append(f"{account.provider}: {amounts}{state}")
    return "\n".join(lines)
