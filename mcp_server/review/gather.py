"""From a folder and a `base` to the change a reviewer receives: sides, the changed files, their diff and text.

The repository's top folder, git folder, shared git folder and object stores (alternates included) must lie inside
the file roots and in no secret place: git reads commits from all of them. Each changed path passes the same policy
as `files` (mcp_server/policy/): a path in a secret place or named like a secret, or a working-tree file that is a
hard link to one, is left out before git prints its diff; the whole text of each file is read through
context/read.py (regular, capped, UTF-8, scanned for keys) and the text before the change is scanned too: a file
either side of which holds a key has its whole diff withheld, and every other hunk is scanned for keys as well.
Binary files, submodules, lock files and files past the size cap are summarised in one line.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import anyio

from mcp_server.context.model import Job
from mcp_server.context.walk import secrets_of
from mcp_server.core import threads
from mcp_server.core.config import FILE_ROOTS_ENV
from mcp_server.core.errors import InputError
from mcp_server.core.quoting import clip
from mcp_server.review import diff, sides
from mcp_server.review.bounds import bounded
from mcp_server.review.files import classify, patches, sizes, texts
from mcp_server.review.git import Bounds, Git, GitError, describe
from mcp_server.review.model import Change, Entry, Sides
from mcp_server.review.repository import Repository, check_own, locate, named
from mcp_server.review.store import Store
from mcp_server.review.worktree import Snapshot, snapshot

MAX_STORES = 16  # object stores one repository reads: its own and those it borrows from (alternates)
MAX_ALTERNATES_BYTES = 64 * 1024
MAX_PACK_ENTRIES = 10_000  # files in objects/pack (a pack, its index, .rev, .keep ...)


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
    real = _folder(folder, job)
    shown = folder or f"the server's working directory, {real} (no `path` given),"
    repository = await locate(Git(real, bounds), shown, job)
    top = repository.top
    await _stores(Git(top, bounds), repository, shown, job)
    await check_own(Git(top, bounds), repository, shown, job)
    job.more_secrets = secrets_of(job, [Path(top)])  # a hard link to the project's .env is refused too
    said = (await Git(top, bounds).run(["rev-parse", "--show-object-format"], checked=False)).decode().strip()
    store = Store(said if said in ("sha1", "sha256") else "sha1")  # git before 2.29 knows SHA-1 alone
    try:
        git = Git(top, bounds).reading(store.path, repository.objects)
        chosen, trees, listed, read = await _choose(git, repository, store, base, job)
        items, skipped = classify(listed, top, job)
        await sizes(git, items, read.notes, job)
        await patches(git, trees, items)
        files, texts_read, more = await texts(git, items, job)
    finally:
        job.stop.set()  # a worker thread still reading the work tree stops before its store is removed
        with anyio.CancelScope(shield=True):
            await threads.run(store.close, abandon_on_cancel=False)
    skipped += read.skipped + more
    change = Change(chosen, top, tuple(files), tuple(sorted(skipped, key=lambda s: s.path)), texts=texts_read)
    return await threads.run(bounded, change, job)  # rendering 4 MiB of hunks in their scopes takes a while


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


async def _stores(git: Git, repository: Repository, shown: str, job: Job) -> None:
    """Refuse a work tree whose git folder, shared git folder or object stores (its `.git` file's `gitdir:`, a
    worktree's `commondir`, `objects/info/alternates`) lie outside the file roots or in a secret place: git would
    read commits from there and the review would send them."""
    git_dir, common = repository.git_dir, repository.common
    shown = named(shown, repository.folder)
    places = [("git folder", git_dir), ("shared git folder", common), ("object store", repository.objects)]
    checked: set[str] = set()
    stores = 0
    while places:
        what, path = places.pop(0)
        real = await threads.run(os.path.realpath, path)
        if real in checked:
            continue
        checked.add(real)
        if not job.files.inside(Path(real)):
            raise InputError(
                f"{shown} is refused: its repository's {what} lies outside {FILE_ROOTS_ENV} (a `.git` file's "
                "gitdir, a worktree's commondir, objects/info/alternates or a symlink among its objects points out of "
                "them); review a repository whose git data is inside them"
            )
        if job.places.holds(real):
            raise InputError(
                f"{shown} is refused: its repository's {what} ({clip(real)}) lies where keys, credentials or "
                "system files are kept"
            )
        if what.endswith("object store"):
            stores += 1
            if stores > MAX_STORES:
                raise InputError(
                    f"{shown} is refused: its repository borrows objects from more than {MAX_STORES} stores "
                    "(objects/info/alternates)"
                )
            for alternate in await threads.run(_alternates, path, real):
                places.append(("alternate object store", alternate))
            for link in await threads.run(_links, real):
                places.append(("object store's linked pack or folder", link))


def _links(objects: str) -> list[str]:
    """The symlinks among an object store's packs and fan-out folders (`pack/pack-1a2b.pack -> elsewhere`), each
    to be judged like the store; at most MAX_PACK_ENTRIES entries of `pack/` are looked at."""
    found: list[str] = []
    for folder, most in ((objects, 300), (f"{objects}/pack", MAX_PACK_ENTRIES)):
        try:
            with os.scandir(folder) as listing:
                for count, entry in enumerate(listing):
                    if count == most:
                        raise InputError(
                            f"the repository's {folder.rpartition('/')[2]} folder holds more than {most:,} entries; "
                            "review refuses it (run `git gc`)"
                        )
                    if entry.is_symlink():
                        found.append(entry.path)
        except OSError:
            continue
    return found


def _alternates(given: str, real: str) -> list[str]:
    """The object stores `objects/info/alternates` names, read within a bound: absolute, or relative to `objects`
    (both as git joins them, lexically, and as the file system would); `#` comments skipped."""
    try:
        with open(f"{real}/info/alternates", "rb") as file:
            data = file.read(MAX_ALTERNATES_BYTES + 1)
    except OSError:
        return []
    if len(data) > MAX_ALTERNATES_BYTES:
        raise InputError(
            f"the repository's objects/info/alternates is over {MAX_ALTERNATES_BYTES:,} bytes; review refuses it"
        )
    found: list[str] = []
    for line in data.decode("utf-8", "surrogateescape").splitlines():
        text = line.strip()
        if not text or text.startswith("#"):
            continue
        if text.startswith('"'):
            raise InputError("the repository's objects/info/alternates names a quoted path; review refuses it")
        if os.path.isabs(text):
            found.append(text)
        else:
            found += [os.path.normpath(os.path.join(given, text)), os.path.join(real, text)]
    return found


async def _choose(
    git: Git, repository: Repository, store: Store, base: str | None, job: Job
) -> tuple[Sides, list[str], list[Entry], Snapshot]:
    """The sides, the two trees compared and the changed paths; with no base, the working tree, else the last
    commit. The working tree is read into `store` as a tree of its own (worktree.py)."""
    if base and base.strip():
        chosen = await sides.explicit(git, base)
        read = Snapshot("") if chosen.right is None else None
        return await _listed(git, repository, store, chosen, job, read)
    head = await sides.head(git)
    left = head or await sides.empty_tree(git)
    against = f"HEAD ({head[:10]})" if head else "an empty tree (no commit yet)"
    chosen = Sides(left, None, f"the working tree (staged, unstaged and untracked) against {against}")
    try:
        return await _listed(git, repository, store, chosen, job, Snapshot(""))
    except _Nothing:
        if head is None:
            raise InputError("nothing to review: the repository has no commit and no changes") from None
    chosen = Sides(await sides.parent(git, head), head, f"the last commit ({head[:10]}) against its parent")
    try:
        return await _listed(git, repository, store, chosen, job, None)
    except _Nothing:
        raise InputError("nothing to review: the working tree is clean and the last commit changes nothing") from None


class _Nothing(InputError):
    """No difference between the sides."""


async def _listed(
    git: Git, repository: Repository, store: Store, chosen: Sides, job: Job, read: Snapshot | None
) -> tuple[Sides, list[str], list[Entry], Snapshot]:
    if read is not None:  # the working tree: read by the server, written as a tree
        read = await snapshot(git, repository.top, chosen.left, repository.index, store, job)
        trees = [chosen.left, read.tree]
    else:
        trees = [chosen.left, chosen.right or ""]
    out = await git.run(["diff-tree", "-r", "-z", "--raw", "--no-abbrev", *diff.OPTIONS, *trees])
    listed = diff.entries(out)
    if read is not None:
        listed = [_marked(entry, read) for entry in listed] + read.withheld
    if not listed and not (read and read.skipped):  # a change the policy withholds whole is still reviewed
        raise _Nothing(f"nothing to review: no difference in {chosen.shown}")
    return chosen, trees, sorted(listed, key=lambda e: e.path), read or Snapshot("")


def _marked(entry: Entry, read: Snapshot) -> Entry:
    """A new file git does not track yet, or one with merge conflicts, says so in its status."""
    if entry.status == "A" and entry.path in read.untracked:
        return dataclasses.replace(entry, status="?")
    if entry.path in read.unmerged:
        return dataclasses.replace(entry, status="U")
    return entry
