"""From a folder and a `base` to the change a reviewer receives: sides, the changed files, their diff and text.

Each changed path passes the same policy as `files` (mcp_server/policy/): a path named like a secret is left out
before git prints its diff; the whole text of each file is read through context/read.py (regular, capped, UTF-8,
scanned for keys), and every hunk of the diff is scanned for keys too, so a key added to a source file is withheld
with its hunk. Binary files, submodules, lock files and files past the size cap are summarised in one line.
"""

from __future__ import annotations

import os
from pathlib import Path

import anyio

from mcp_server.context.model import Job
from mcp_server.errors import InputError
from mcp_server.quoting import clip
from mcp_server.review import diff, sides
from mcp_server.review.bounds import bounded
from mcp_server.review.files import classify, patches, sizes, texts
from mcp_server.review.git import Bounds, Git, GitError, describe
from mcp_server.review.model import Change, Entry, Sides


async def gather_change(folder: str | None, base: str | None, job: Job) -> Change:
    """The change to review in the work tree at `folder` (None: the working directory); InputError when there is
    nothing to review or it cannot be read."""
    seconds = job.limits.review_seconds
    try:
        with anyio.fail_after(seconds):
            return await _gather(folder, base, job)
    except GitError as e:
        raise InputError(f"git could not read the repository: {describe(e)}") from None
    except TimeoutError:
        raise InputError(
            f"reading the change took more than {seconds:g} s (the bound for gathering a review); pass a narrower "
            "base, or review a smaller change"
        ) from None
    finally:
        job.stop.set()  # a worker thread still reading files stops at its next look at the flag


async def _gather(folder: str | None, base: str | None, job: Job) -> Change:
    bounds = Bounds(job.limits.review_diff_bytes, job.limits.review_seconds)
    top = await _top(Git(_folder(folder, job), bounds), folder or ".", job)
    git = Git(top, bounds)
    await git.disarm()
    chosen, listed = await _choose(git, base)
    items, skipped = classify(listed, job)
    await sizes(git, top, chosen, items, job)
    await patches(git, chosen, items, job)
    files, read, more = await texts(git, top, chosen, items, job)
    change = Change(chosen, top, tuple(files), tuple(sorted(skipped + more, key=lambda s: s.path)), texts=read)
    return bounded(change, job)


def _folder(folder: str | None, job: Job) -> str:
    """The folder named (relative to the working directory), refused outside the file roots."""
    text = folder or "."
    if "\x00" in text or len(text) > 4096:
        raise InputError("path is not a valid folder path (too long, or a NUL)")
    path = Path(text).expanduser()
    logical = Path(os.path.normpath(path if path.is_absolute() else job.base_dir / path))
    real = job.files.resolve(logical)
    if not real.is_dir():
        raise InputError(f"{clip(text)} is not a folder; pass the folder of a git work tree")
    return str(real)


async def _top(git: Git, shown: str, job: Job) -> str:
    try:
        out = await git.run(["rev-parse", "--show-toplevel"])
    except GitError as e:
        if "not a git repository" in e.stderr:
            raise InputError(
                f"{clip(shown)} is not inside a git repository; pass the folder of a git work tree"
            ) from None
        raise InputError(f"git cannot read {clip(shown)}: {describe(e)}") from None
    top = out.decode("utf-8", "surrogateescape").rstrip("\n")
    real = await anyio.Path(top).resolve()
    if not job.files.inside(Path(real)):
        raise job.files.refusal(f"{shown} (its repository's top folder, {top})")
    if job.places.holds(str(real)):
        raise InputError(f"{clip(shown)} is refused: it lies where keys, credentials or system files are kept")
    return str(real)


async def _choose(git: Git, base: str | None) -> tuple[Sides, list[Entry]]:
    """The sides and the changed paths; with no base, the working tree, else the last commit."""
    if base and base.strip():
        chosen = await sides.explicit(git, base)
        listed = await _listing(git, chosen)
        if not listed:
            raise InputError(f"nothing to review: no difference in {chosen.shown}")
        return chosen, listed
    head = await sides.head(git)
    left = head or await sides.empty_tree(git)
    against = f"HEAD ({head[:10]})" if head else "an empty tree (no commit yet)"
    chosen = Sides(left, None, f"the working tree (staged, unstaged and untracked) against {against}")
    listed = await _listing(git, chosen)
    if listed:
        return chosen, listed
    if head is None:
        raise InputError("nothing to review: the repository has no commit and no changes")
    chosen = Sides(await sides.parent(git, head), head, f"the last commit ({head[:10]}) against its parent")
    listed = await _listing(git, chosen)
    if not listed:
        raise InputError("nothing to review: the working tree is clean and the last commit changes nothing")
    return chosen, listed


async def _listing(git: Git, chosen: Sides) -> list[Entry]:
    out = await git.run(["diff", "--raw", "-z", "--no-abbrev", *diff.OPTIONS, *chosen.ids])
    listed = diff.entries(out)
    if chosen.right is None:
        others = await git.run(["ls-files", "-z", "--others", "--exclude-standard"])
        for path in others.decode("utf-8", "surrogateescape").split("\0"):
            if path:
                listed.append(Entry("?", path, None, "000000", "100644", "0" * 40, "0" * 40))
    return sorted(listed, key=lambda e: e.path)
