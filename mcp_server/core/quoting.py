"""How messages quote what a caller passed: long strings clipped, byte counts in readable units."""

from __future__ import annotations

_MAX_ECHO = 200  # characters of a caller's argument quoted back in a message; the rest is elided


def clip(text: str, limit: int = _MAX_ECHO) -> str:
    """A caller's string as quoted in a message: whole when short, else its start and end around an ellipsis."""
    if len(text) <= limit:
        return text
    return f"{text[: limit // 2]}…{text[-(limit // 2) :]}"


def format_size(size: int) -> str:
    """A byte count in bytes, KiB or MiB, whichever reads best."""
    if size >= 2**20:
        return f"{size / 2**20:.1f} MiB"
    return f"{size / 2**10:.1f} KiB" if size >= 2**10 else f"{size} bytes"
