"""What the server may read and what it must never send: one policy, asked by every reader of local files.

The modules:

    access.py      which paths may be read at all (DEEPSEEK_MCP_FILE_ROOTS; nothing over HTTP without it)
    names.py       names and places refused or skipped without reading (.env, *.pem, ~/.ssh, node_modules)
    scan.py        secrets in a file's content (private keys, API keys, the server's own keys)
    redaction.py   the server's own keys out of every result, error and log line, in each printed form
    urls.py        which URLs a provider that fetches inside the user's network may be handed (no SSRF)
"""

from __future__ import annotations

from mcp_server.policy.access import FileAccess
from mcp_server.policy.names import home, secret_places
from mcp_server.policy.redaction import RedactingFilter, Redactor, redact
from mcp_server.policy.scan import Scanner

__all__ = ["FileAccess", "RedactingFilter", "Redactor", "Scanner", "home", "redact", "secret_places"]
