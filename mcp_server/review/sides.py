"""What a review compares, from the `base` argument: the refs checked before git sees them, then resolved to ids.

A ref is refused unless it looks like one (no leading `-`, so `--output=/tmp/x` can never become an option; no
spaces, control characters or `:`), and is resolved with `rev-parse --verify --end-of-options REF^{commit}`: every
later git command gets commit ids only.
"""

from __future__ import annotations

import re

from mcp_server.core.errors import InputError
from mcp_server.core.quoting import clip
from mcp_server.review.git import Git, GitError
from mcp_server.review.model import Sides

MAX_REF_CHARS = 256
_REF = re.compile(r"[A-Za-z0-9_./@{}~^+-]{1,256}")
_BAD = re.compile(r"^-|\.\.|//|@\{[^}]*$")


def parse(base: str) -> tuple[str | None, str | None, bool]:
    """(left, right, symmetric) from `base`: `A...B`, `A..B` (an empty side is HEAD), or one ref (right None)."""
    text = base.strip()
    if len(text) > MAX_REF_CHARS:
        raise InputError(f"base is {len(text):,} characters; at most {MAX_REF_CHARS} (a ref or a range)")
    for separator, symmetric in (("...", True), ("..", False)):
        if separator in text:
            left, _, right = text.partition(separator)
            return _ref(left or "HEAD", base), _ref(right or "HEAD", base), symmetric
    return _ref(text, base), None, False


def _ref(text: str, base: str) -> str:
    if not _REF.fullmatch(text) or _BAD.search(text):
        raise InputError(
            f"base {clip(base)!r} is not a ref or a range git accepts here; pass a branch, tag or commit (main, "
            "HEAD~3, v1.2) or a range (main..HEAD, origin/main...HEAD)"
        )
    return text


async def commit_id(git: Git, ref: str) -> str:
    """The commit `ref` names; InputError for a ref the repository does not know."""
    try:
        out = await git.run(["rev-parse", "--verify", "--quiet", "--end-of-options", f"{ref}^{{commit}}"])
    except GitError:
        raise InputError(
            f"base: the repository knows no commit {clip(ref)!r}; pass a branch, tag or commit it has (git branch "
            "-a, git log --oneline), or a range such as main..HEAD"
        ) from None
    return out.decode().strip()


async def head(git: Git) -> str | None:
    """HEAD's commit, or None in a repository with no commit yet."""
    try:
        return (await git.run(["rev-parse", "--verify", "--quiet", "HEAD^{commit}"])).decode().strip()
    except GitError:
        return None


async def empty_tree(git: Git) -> str:
    """The id of the empty tree in this repository's hash (SHA-1 or SHA-256), to compare a first commit with."""
    return (await git.run(["hash-object", "-t", "tree", "--stdin"], stdin=b"")).decode().strip()


async def parent(git: Git, commit: str) -> str:
    """The first parent of `commit`, or the empty tree for a root commit."""
    try:
        return (await git.run(["rev-parse", "--verify", "--quiet", f"{commit}^1^{{commit}}"])).decode().strip()
    except GitError:
        return await empty_tree(git)


async def explicit(git: Git, base: str) -> Sides:
    """The sides `base` names: one ref against the working tree, `A..B`, or `A...B` (from their merge base)."""
    left, right, symmetric = parse(base)
    assert left is not None
    left_id = await commit_id(git, left)
    if right is None:
        return Sides(left_id, None, f"the working tree against {left} ({left_id[:10]})")
    right_id = await commit_id(git, right)
    if symmetric:
        try:
            merge_base = (await git.run(["merge-base", left_id, right_id])).decode().split()[0]
        except (GitError, IndexError):
            raise InputError(f"base: {clip(left)} and {clip(right)} share no history; use {left}..{right}") from None
        return Sides(merge_base, right_id, f"{right} ({right_id[:10]}) against its merge base with {left}")
    return Sides(left_id, right_id, f"{right} ({right_id[:10]}) against {left} ({left_id[:10]})")
