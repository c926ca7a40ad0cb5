"""A model that acts on this machine: DeepSeek calls read-only functions, the server runs them inside the same
walls as `files`, and what the model cites is checked: against the lines it was shown and the code it names.

The modules, in the order a call passes through them:

    loop.py        the model/function loop, reusable by any tool (its docstring shows how); DeepSeek's tool rules
    functions.py   list_dir, glob, grep, read_file: the read-only functions and their schemas
    workspace.py   the folder investigated: a path the model writes -> a file or folder, judged by context/walk.py
    seen.py        the lines each function result delivered to the model
    patterns.py    globs and grep's regular expressions, on RE2 (linear time, programs of bounded size)
    search.py      grep's search of one text, in pieces between which the call's clock is looked at
    citations.py   citations in an answer, in every form models write, each with its claim
    claims.py      the code names a claim marks, and whether the cited lines hold them
    evidence.py    each citation checked: the lines exist, were seen, hold the names (`verified`, `check`)
    verdicts.py    independent checks that end at `verdict {holds, reason}`: review's checks, the audit
    audit.py       `audit`: each verified claim re-checked by a verdict
"""

from __future__ import annotations

import typing

from mcp_server.core.lazy import exports

if typing.TYPE_CHECKING:
    from mcp_server.agent.functions import READ_ONLY, Function, Outcome
    from mcp_server.agent.loop import Handler, Loop, Run, Task, read_only, thinking_for, with_functions
    from mcp_server.agent.workspace import Workspace

# On first use: the loop and its functions load with the first investigate or review.
exports(
    __name__,
    {
        "READ_ONLY": "functions",
        "Function": "functions",
        "Outcome": "functions",
        "Handler": "loop",
        "Loop": "loop",
        "Run": "loop",
        "Task": "loop",
        "read_only": "loop",
        "thinking_for": "loop",
        "with_functions": "loop",
        "Workspace": "workspace",
    },
)

__all__ = [
    "READ_ONLY",
    "Function",
    "Handler",
    "Loop",
    "Outcome",
    "Run",
    "Task",
    "Workspace",
    "read_only",
    "thinking_for",
    "with_functions",
]
