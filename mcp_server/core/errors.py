"""The project's exception tree.

Every failure a user can cause or meet derives from `DeepSeekMCPError`, which is the SDK's `ToolError`, so its
message reaches the model in an `isError` result instead of being masked as "Error executing tool". Messages say
what happened and what to do next, and never contain a key.
"""

from __future__ import annotations

from mcp.server.mcpserver.exceptions import ToolError


class DeepSeekMCPError(ToolError):
    """Base of every anticipated failure; the message is for the user."""


class ConfigError(DeepSeekMCPError):
    """The server is not configured for what was asked (for example a missing API key)."""


class InputError(DeepSeekMCPError):
    """A tool argument or an input file that cannot be used as given."""
