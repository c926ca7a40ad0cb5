"""`deepseek-mcp doctor`: what is configured and whether each provider answers, as a pass/fail table."""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass
from typing import TextIO

import anyio

from mcp_server import __version__
from mcp_server.core.config import Settings
from mcp_server.core.errors import DeepSeekMCPError
from mcp_server.upstream.client import UpstreamClient
from mcp_server.upstream.providers import TOOL_KINDS, Provider, Router, ToolKind

KEY_VARIABLES = ("DEEPSEEK_API_KEY", "ATLASCLOUD_API_KEY", "DEEPSEEK_MCP_OPENAI_API_KEY")
TOOLS = TOOL_KINDS


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool | None  # None: information only
    detail: str


def run(settings: Settings, env: dict[str, str], out: TextIO | None = None) -> int:
    """Print the table; 0 when every check passed, 1 otherwise."""
    out = out or sys.stdout
    checks = anyio.run(_checks, settings, env)
    width = max(len(c.name) for c in checks)
    for check in checks:
        mark = {True: "PASS", False: "FAIL", None: "    "}[check.ok]
        print(f"{mark}  {check.name.ljust(width)}  {check.detail}", file=out)
    failed = sum(1 for c in checks if c.ok is False)
    print(f"\n{'all checks passed' if not failed else f'{failed} check(s) failed'}", file=out)
    return 1 if failed else 0


async def _checks(settings: Settings, env: dict[str, str]) -> list[Check]:
    from mcp_types.version import SUPPORTED_PROTOCOL_VERSIONS

    router = Router(settings)
    checks = [Check("deepseek-mcp", None, f"{__version__} on Python {sys.version.split()[0]}")]
    checks += [_key(name, env, settings) for name in KEY_VARIABLES]
    said = {problem.message() for problem in settings.key_problems}  # on the key's own line above
    checks += [Check("warning", False, warning) for warning in settings.warnings if warning not in said]
    if not router.providers:
        what = "set DEEPSEEK_API_KEY or ATLASCLOUD_API_KEY"
        what = "replace the placeholder above" if settings.key_problems else what
        checks.append(Check("providers", False, f"no key set: {what}"))
    upstream = UpstreamClient(settings)
    try:
        for provider in router.providers:
            checks.append(await _reachable(upstream, provider))
    finally:
        await upstream.aclose()
    if router.providers:
        checks += [_default(router, tool) for tool in TOOLS if tool != "ocr"]
        checks += _ocr_routes(router)
    checks += await _state(settings)
    checks += await anyio.to_thread.run_sync(_check, settings)
    checks.append(Check("protocol versions", None, ", ".join(SUPPORTED_PROTOCOL_VERSIONS)))
    return checks


async def _state(settings: Settings) -> list[Check]:
    """Which store keeps conversations and spending, and whether it answers (it is opened, never emptied)."""
    from mcp_server.core.config import DAILY_BUDGET_ENV, MAX_COST_ENV
    from mcp_server.core.quoting import format_size
    from mcp_server.state import open_store

    store = open_store(settings)
    try:
        count, size = await store.stats()
    except DeepSeekMCPError as exc:
        found = Check("state store", False, str(exc))
    else:
        kept = "kept until the process ends; set DEEPSEEK_MCP_STATE to keep them" if store.name == "memory" else "ok"
        found = Check("state store", True, f"{store.name}: {count} conversation(s), {format_size(size)}; {kept}")
    finally:
        await store.aclose()
    limits = [
        f"{name} ${value:g}"
        for name, value in ((DAILY_BUDGET_ENV, settings.daily_budget), (MAX_COST_ENV, settings.max_cost_per_call))
        if value is not None
    ]
    return [found, Check("spending limits", None, ", ".join(limits) or "none set")]


def _check(settings: Settings) -> list[Check]:
    """delegate's check: the command, its bound, whether it would run sandboxed, and which variables it loses."""
    from mcp_server.core.config import CHECK_COMMAND_ENV
    from mcp_server.delegate import environment, sandbox
    from mcp_server.policy import Scanner

    check = settings.check
    if check is None:
        return [Check("delegate check", None, f"none ({CHECK_COMMAND_ENV} unset): delegate runs no command")]
    found = [Check("delegate check", None, f"{check.command[:200]} (at most {check.seconds:g} s)")]
    unsandboxed = sandbox.usable(check.bwrap)
    if unsandboxed is None:
        found.append(Check("check sandbox", True, f"bubblewrap ({check.bwrap}): read-only system, no network"))
    else:
        over = "; over HTTP the check is not run" if settings.serves_http else ""
        found.append(Check("check sandbox", False, f"{unsandboxed}: the check runs without a sandbox{over}"))
    dropped = environment.dropped_names(check.environment, settings.secrets, Scanner.of(settings.secrets))
    found.append(Check("check environment", None, f"without {len(dropped)} variable(s): {', '.join(dropped[:40])}"))
    return found


def _key(name: str, env: dict[str, str], settings: Settings) -> Check:
    # Whether it is set, never its value, not even a prefix (a placeholder is shown only when it cannot be a key).
    problem = next((p for p in settings.key_problems if p.name == name), None)
    if problem is not None:
        return Check(name, False, problem.message())
    return Check(name, None, "set" if env.get(name, "").strip() else "not set")


async def _reachable(upstream: UpstreamClient, provider: Provider) -> Check:
    name = f"{provider.origin.label} /models"
    started = time.monotonic()
    try:
        body = await upstream.get_json(provider, provider.url("models"), auth=provider.models_need_key)
    except DeepSeekMCPError as exc:
        return Check(name, False, str(exc))
    count = len(body.get("data") or []) if isinstance(body, dict) else 0
    return Check(name, True, f"{count} models in {(time.monotonic() - started) * 1000:.0f} ms ({provider.base_url})")


OCR_MODES = ("markdown", "text", "figure", "describe", "locate")


def _ocr_routes(router: Router) -> list[Check]:
    """Which route reads each `ocr` mode without `model`, as docs/tools.md's routing table shows: modes that share
    a route on one line (an http(s) URL always takes the chat route)."""
    routes: dict[str, list[str]] = {}
    for mode in OCR_MODES:
        routes.setdefault(_ocr_route(router, mode), []).append(mode)
    return [Check(f"ocr {', '.join(modes)}", None, route) for route, modes in routes.items()]


def _ocr_route(router: Router, mode: str) -> str:
    native = router.ocr_api(mode)
    if native is not None and native.ocr_api is not None:
        return f"ocr_api: {native.origin.label}'s OCR API ({native.ocr_api.purpose(mode)})"
    try:
        route = router.route("ocr")
    except DeepSeekMCPError as exc:
        return str(exc)
    kind = "deepseek_ocr" if route.traits.deepseek_ocr else "vision"
    return f"{kind}: {route.provider.name}:{route.model}"


def _default(router: Router, tool: ToolKind) -> Check:
    try:
        route = router.route(tool)
    except DeepSeekMCPError as exc:
        return Check(f"default for {tool}", None, str(exc))
    return Check(f"default for {tool}", None, f"{route.provider.name}:{route.model}")
