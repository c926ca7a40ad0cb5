"""`review`: a change read safely from git, reviewed by DeepSeek, and every finding checked before it is reported.

The modules, in the order a call passes through them:

    git.py      running git's plumbing only, so nothing the repository names runs; bounded output and time
    repository.py  the folder's own repository: its top folder, git folders, and no `.git` pointing elsewhere
    sides.py    what is compared, from `base`: refs checked, then resolved to commit ids
    gather.py   from a folder and `base` to the change: the top folder and git's stores inside the roots, the sides
    worktree.py the working tree read by the server through the policy (git never opens a work-tree file)
    store.py    the review's own temporary object store: the working tree's blobs and trees
    trees.py    the working tree's files as trees, reusing the compared side's where nothing changed
    files.py    each changed path through the policy of `files`: secrets withheld, binaries summarised, whole texts
    diff.py     git's raw listing and patch read; hunks holding a key withheld
    bounds.py   the diff's bytes and lines, the token budget, and the notices of what was left out
    render.py   the block DeepSeek receives, byte-identical for the same change
    hunks.py    each changed file as its hunks in the function or class around them, numbered, never whole
    findings.py report_finding's contract, and each finding anchored to real lines on arrival
    reviewer.py the review pass: the investigate loop's functions plus report_finding
    check.py    the check pass: one independent run per finding (it may read), ending at `verdict`, 4 at a time
    model.py    Sides, Entry, ChangedFile, Change
"""

from __future__ import annotations

import typing

from mcp_server.core.lazy import exports

if typing.TYPE_CHECKING:
    from mcp_server.review.gather import gather_change
    from mcp_server.review.model import Change, ChangedFile, Sides

# On first use: git and the review's modules load with the first review.
exports(
    __name__,
    {
        "gather_change": "gather",
        "Change": "model",
        "ChangedFile": "model",
        "Sides": "model",
    },
)

__all__ = ["Change", "ChangedFile", "Sides", "gather_change"]
