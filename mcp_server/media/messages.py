"""How refusals quote what a caller passed, and the refusal for a source over a size limit."""

from __future__ import annotations

from mcp_server.core.errors import InputError
from mcp_server.core.quoting import clip, format_size

__all__ = ["clip", "format_size", "too_large"]


def too_large(label: str, size: int, limit: int) -> InputError:
    """The refusal for a source of `size` bytes over a `limit`."""
    shown, most = format_size(size), format_size(limit)
    if shown == most:  # one byte over reads as "32.0 MiB; the limit is 32.0 MiB" otherwise
        shown, most = f"{size:,} bytes", f"{limit:,} bytes ({most})"
    return InputError(f"{label} is {shown}; the limit is {most}")
