"""What the server may read and what it must never send: one policy, asked by every reader of local files.

The modules:

    access.py      which paths may be read at all (DEEPSEEK_MCP_FILE_ROOTS; nothing over HTTP without it)
    names.py       names refused or skipped without reading (.env, env.production, *.pem, fish_history, node_modules)
    places.py      places refused (~/.ssh, /etc/shadow- ...) as the file system compares paths; hard links into them
    opening.py     opening exactly the path checked: no symlink swapped in on the way is followed
    rules.py       what secrets look like: credentials.toml's ~1,100 provider rules as data; assignments, URLs
    scan.py        secrets in a file's content: one gate, the rules it wakes, encoded runs, the server's own keys
    proof.py       what a provider match needs besides its shape: entropy, a checksum
    judge.py       whether a value under a secret-ish name, or a URL's password, is a secret
    encodings.py   a secret's base64 and hex spellings
    containers.py  what a binary file holds a layer down (UTF-16, gzip, zip, PDF streams), for delegate's copy
    redaction.py   the server's own keys out of every result, error and log line, in each printed form
    urls.py        which URLs a provider that fetches inside the user's network may be handed (no SSRF)
    workdir.py     whether a folder nobody named (the working directory, a client's root) is a project to explore
"""

from __future__ import annotations

import typing

from mcp_server.core.lazy import exports

if typing.TYPE_CHECKING:
    from mcp_server.policy.access import FileAccess
    from mcp_server.policy.names import home
    from mcp_server.policy.places import Places, secret_places
    from mcp_server.policy.redaction import RedactingFilter, Redactor, redact
    from mcp_server.policy.scan import Finding, Scanner

# On first use: the content rules compile when a file is first read, not when the server starts.
exports(
    __name__,
    {
        "FileAccess": "access",
        "home": "names",
        "Places": "places",
        "secret_places": "places",
        "RedactingFilter": "redaction",
        "Redactor": "redaction",
        "redact": "redaction",
        "Finding": "scan",
        "Scanner": "scan",
    },
)

__all__ = [
    "FileAccess",
    "Finding",
    "Places",
    "RedactingFilter",
    "Redactor",
    "Scanner",
    "home",
    "redact",
    "secret_places",
]
