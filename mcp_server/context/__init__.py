"""Local files as context for `chat` and `reason`: the `files` argument, walked, read and rendered.

What may be read and what is secret is decided by `mcp_server.policy`; this package only asks it.

The modules, in the order a call's paths pass through them:

    gather.py   resolving the paths (inside DEEPSEEK_MCP_FILE_ROOTS), the bounds, reading in order, the budget
    walk.py     walking folders: listed through checked descriptors, depth and entry bounds
    judge.py    what a walk enters, finds or skips and why; a symlink judged as its own name and as its target
    ignore.py   .gitignore files with git's semantics (pathspec), nested and negated
    read.py     reading one file: regular, capped, unchanged while read, UTF-8 text
    render.py   the block DeepSeek receives before the prompt, byte-identical for the same files
    scopes.py   the function or class around lines of code, by indentation (review's hunks, citations' names)
    model.py    Found, Sent, Skip, Gathered, Job
"""

from __future__ import annotations

import typing

from mcp_server.core.lazy import exports

if typing.TYPE_CHECKING:
    from mcp_server.context.gather import gather, gather_files
    from mcp_server.context.model import Gathered, Job, Sent, Skip
    from mcp_server.context.render import with_files

# On first use: walking and reading load with the first call that sends files.
exports(
    __name__,
    {
        "gather": "gather",
        "gather_files": "gather",
        "Gathered": "model",
        "Job": "model",
        "Sent": "model",
        "Skip": "model",
        "with_files": "render",
    },
)

__all__ = [
    "Gathered",
    "Job",
    "Sent",
    "Skip",
    "gather",
    "gather_files",
    "with_files",
]
