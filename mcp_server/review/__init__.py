"""`review`: a change read safely from git, reviewed by DeepSeek, and every finding checked before it is reported.

The modules, in the order a call passes through them:

    git.py      running git without running anything the repository configures; bounded output and time
    sides.py    what is compared, from `base`: refs checked, then resolved to commit ids
    gather.py   the changed files through the policy of `files`: secrets withheld, binaries summarised, bounds
    diff.py     git's raw listing and patch read; hunks holding a key withheld
    render.py   the block DeepSeek receives, byte-identical for the same change
    model.py    Sides, Entry, ChangedFile, Change
"""

from __future__ import annotations

from mcp_server.review.gather import gather_change
from mcp_server.review.model import Change, ChangedFile, Sides

__all__ = ["Change", "ChangedFile", "Sides", "gather_change"]
