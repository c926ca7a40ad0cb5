"""`delegate`: DeepSeek writes a change in a scratch copy of the user's folder; the server proves the patch applies,
parses and passes the operator's check before the assistant sees it. The user's files are never written.

The modules, in the order a call passes through them:

    folders.py      the private temp folder, one folder per run with its lock, and the sweep of a crash's leftovers
    copy.py         the scratch copy: what the walls allow of the folder, read through the policy, scanned, copied
    session.py      one run: the functions offered and handled, the checks, the verification, the copy removed
    edits.py        edit_file and delete_file: the model's writes, in the copy only, under the walls of reads
    check.py        the check command: time bound, its own process group killed whole, the output's redacted tail
    environment.py  the check's environment, every key and token removed before it starts
    sandbox.py      bubblewrap: a read-only system, the writable copy, no network, the secret places covered
    mounts.py       what the sandbox shows: the toolchain mounted back, the user's files and runtime sockets covered
    patch.py        the unified diff, made, parsed and applied in-process (no git runs)
    parsers.py      whether each changed file parses (ast, json, tomllib, PyYAML, tree-sitter where installed)
    verify.py       the patch and what is proved about it: applies, parses, the last check
"""

from __future__ import annotations

import typing

from mcp_server.core.lazy import exports

if typing.TYPE_CHECKING:
    from mcp_server.delegate.check import CheckRun, Runner
    from mcp_server.delegate.folders import sweep
    from mcp_server.delegate.session import Session, describe
    from mcp_server.delegate.verify import Verification

# On first use: the copy, the check and the sandbox load with the first delegate call (the sweep at start-up loads
# folders.py alone).
exports(
    __name__,
    {
        "CheckRun": "check",
        "Runner": "check",
        "sweep": "folders",
        "Session": "session",
        "describe": "session",
        "Verification": "verify",
    },
)

__all__ = ["CheckRun", "Runner", "Session", "Verification", "describe", "sweep"]
