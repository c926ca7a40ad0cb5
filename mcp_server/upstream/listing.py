"""Reading a provider's live model list: what `list_models` shows and what routing consults."""

from __future__ import annotations

from mcp_server.upstream.catalog import ModelRow, parse_rows
from mcp_server.upstream.client import UpstreamClient
from mcp_server.upstream.errors import UpstreamError
from mcp_server.upstream.providers import Provider


async def fetch_rows(upstream: UpstreamClient, provider: Provider, *, retry: bool = True) -> list[ModelRow]:
    """The provider's usable models now; raises UpstreamError when it cannot be read. Routing asks without
    retries: it settles by the id's shape rather than wait on a provider that is down."""
    body = await upstream.get_json(provider, provider.url("models"), auth=provider.models_need_key, retry=retry)
    rows = parse_rows(body)
    if rows is None:
        raise UpstreamError("answered /models in an unknown shape; check the base URL.", origin=provider.origin)
    return rows
