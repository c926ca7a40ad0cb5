"""Which repository a folder is, and whether it is the folder's own.

A folder's `.git` may be a file (`gitdir: ../../work/company-app/.git`) or a symlink naming another folder's
repository: git then compares that repository's HEAD and index with this folder, and its files go upstream as
deletions. So the git folder must lie inside the top folder, or name this work tree back as git's own links do: a
worktree made by `git worktree add` (its git folder's `gitdir` file names this `.git`), a submodule or a clone made
with `--separate-git-dir` whose config says `core.worktree` is this folder. Anything else is refused, naming the
repository it points at (inside the file roots only). The top folder git reports must hold the folder given (a
`core.worktree` pointing elsewhere is refused) and lie inside the file roots, in no secret place. Found by going up
from a subfolder, it must be a project folder too (policy/workdir.py): a dotfiles repository in the home folder
would otherwise send home's files for a review of `~/code/newproj`.

The git folder's own data must be its own too. A `commondir` file makes another repository's refs and objects this
one's (git honours it in any git folder, not only a worktree's), and a ref that is a symlink (`refs/heads/main ->
/work/company-app/.git/refs/heads/main`, or the whole `refs/`), with that repository's objects borrowed through
`objects/info/alternates`, makes HEAD its commit: either way its files would go upstream as deletions. So the shared
git folder must be the git folder itself, or hold it as git's own worktrees do (`<common>/worktrees/<name>`), and
no ref (HEAD, packed-refs, refs/ and reftable/, the worktree's and the shared folder's) may be a symlink out of it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from mcp_server.context.model import Job
from mcp_server.core import threads
from mcp_server.core.errors import InputError
from mcp_server.core.quoting import clip
from mcp_server.policy import names
from mcp_server.policy.workdir import unfit_folder
from mcp_server.review.git import Git, GitError, describe

MAX_GITDIR_FILE = 4096
MAX_REF_ENTRIES = 20_000  # entries of refs/ looked at for a symlink out of the repository
_REFS = ("HEAD", "packed-refs", "refs", "reftable")


@dataclass(frozen=True)
class Repository:
    """A work tree's repository: every path real (symlinks resolved)."""

    folder: str  # the folder given
    top: str  # the work tree's top folder
    git_dir: str  # its git folder (a worktree's own, under the shared one's worktrees/)
    common: str  # the shared git folder (refs, objects, config)

    @property
    def objects(self) -> str:
        return f"{self.common}/objects"

    @property
    def index(self) -> str:
        return f"{self.git_dir}/index"


async def locate(git: Git, shown: str, job: Job) -> Repository:
    """The repository of the folder `git` runs in (`shown` as the caller wrote it); InputError when there is none
    or it is not the folder's own."""
    try:
        out = await git.run(["rev-parse", "--show-toplevel", "--absolute-git-dir", "--git-common-dir"])
    except GitError as e:
        where = named(shown, git.folder)
        if "not a git repository" in e.stderr:
            raise InputError(f"{where} is not inside a git repository; pass the folder of a git work tree") from None
        raise InputError(f"git cannot read {where}: {describe(e)}") from None
    lines = out.decode("utf-8", "surrogateescape").split("\n")
    if len(lines) < 3 or not lines[0]:
        raise InputError(f"git cannot tell where the repository of {clip(shown)} keeps its data; check `git status`")
    given = git.folder
    top, git_dir, common = await threads.run(_real, given, lines[0], lines[1], lines[2])
    where = named(shown, given)
    if not job.files.inside(Path(top)):
        raise job.files.refusal(f"{shown} (its repository's top folder, {top})")
    if job.places.holds(top):
        raise InputError(f"{where} is refused: it lies where keys, credentials or system files are kept")
    if given != top and not given.startswith(f"{top.rstrip('/')}/"):
        raise InputError(
            f"{where} is refused: its repository's work tree is {_shown(top, job)} (core.worktree), not this folder; "
            "review that folder itself"
        )
    mine = names.home()
    unfit = None if given == top else unfit_folder(top, None if mine is None else str(mine), job.places)
    if unfit is not None:  # found by going up from the folder given: a dotfiles repository in ~, a `git init` in /
        raise InputError(
            f"{where} is refused: the repository it lies in has its top folder at {_shown(top, job)}, {unfit}, "
            "whose files a review of it would send; `git init` the project's own folder, or name that folder "
            "itself as `path` to review all of it"
        )
    return Repository(given, top, git_dir, common)


async def check_own(git: Git, repository: Repository, shown: str, job: Job) -> None:
    """Refuse a repository that is not the folder's own: its git folder outside the top folder, naming no work tree
    here (after its stores are checked, so a git folder in a secret place is refused as one)."""
    top, git_dir = repository.top, repository.git_dir
    if not await threads.run(_own, top, git_dir) and not await _claims(git, top, git_dir):
        raise InputError(
            f"{named(shown, repository.folder)} is refused: its `.git` points to the repository at "
            f"{_shown(git_dir, job)}, which is not this folder's own (it names no work tree here); review that "
            "repository from its own folder, or make the link git's own (`git worktree add`, or `git config "
            "core.worktree` in that repository)"
        )
    borrowed = await threads.run(_borrowed, git_dir, repository.common)
    if borrowed is not None:
        raise InputError(
            f"{named(shown, repository.folder)} is refused: {borrowed}, so git would read another repository's "
            f"history as this folder's own (it is not this folder's own); review that repository from its own folder"
        )


def _real(given: str, top: str, git_dir: str, common: str) -> tuple[str, str, str]:
    common = common if os.path.isabs(common) else os.path.join(given, common)
    return os.path.realpath(top), os.path.realpath(git_dir), os.path.realpath(common)


def _own(top: str, git_dir: str) -> bool:
    """The git folder lies inside the top folder, or is a linked worktree's whose `gitdir` file names this work
    tree's `.git` file back (blocking)."""
    if git_dir.startswith(f"{top.rstrip('/')}/"):
        return True
    try:
        with open(f"{git_dir}/gitdir", "rb") as file:
            back = file.read(MAX_GITDIR_FILE).decode("utf-8", "surrogateescape").strip()
    except OSError:
        return False
    if not back:
        return False
    back = back if os.path.isabs(back) else os.path.join(git_dir, back)
    return os.path.realpath(back) == os.path.realpath(f"{top}/.git")


def _borrowed(git_dir: str, common: str) -> str | None:
    """Why the git folder's refs are another repository's (its `commondir`, a ref that is a symlink out of it), or
    None (blocking)."""
    if common != git_dir and os.path.dirname(git_dir) != f"{common.rstrip('/')}/worktrees":
        return "its git folder's `commondir` names another repository's git folder"
    for folder in dict.fromkeys((git_dir, common)):
        why = _ref_link(folder)
        if why is not None:
            return why
    return None


def _ref_link(folder: str) -> str | None:
    """Why the refs of `folder` (a git folder: HEAD, packed-refs, refs/, reftable/) cannot be trusted as its own: a
    symlink whose target lies outside it, or more loose refs than are looked at; None when they can."""
    inside = f"{os.path.realpath(folder).rstrip('/')}/"
    stack = [f"{folder}/{name}" for name in _REFS]
    looked = 0
    while stack:
        path = stack.pop()
        looked += 1
        if looked > MAX_REF_ENTRIES:
            return (
                f"its git folder holds more than {MAX_REF_ENTRIES:,} loose refs, too many to check that none is a "
                "symlink out of it (`git pack-refs --all` packs them)"
            )
        if os.path.islink(path) and not os.path.realpath(path).startswith(inside):
            return f"its ref {os.path.relpath(path, folder)} is a symlink out of its git folder"
        if os.path.isdir(path) and not os.path.islink(path):
            try:
                stack += [entry.path for entry in os.scandir(path)]
            except OSError:
                continue
    return None


async def _claims(git: Git, top: str, git_dir: str) -> bool:
    """The git folder's own config names this work tree (`core.worktree`: a submodule, `--separate-git-dir`)."""
    out = await git.run(["config", "--get", "core.worktree"], checked=False)
    value = out.decode("utf-8", "surrogateescape").strip()
    if not value:
        return False
    path = value if os.path.isabs(value) else os.path.join(git_dir, value)
    return await threads.run(os.path.realpath, path) == top


def named(shown: str, real: str) -> str:
    """The folder as the caller wrote it, and its real path when that differs (a symlink, `.`)."""
    if os.path.normpath(shown) == real or real in shown:  # as given, or already named with its real path
        return clip(shown)
    return f"{clip(shown)} (the folder {clip(real)})"


def _shown(path: str, job: Job) -> str:
    """A path for an error: named when it lies inside the file roots, or when there are none (stdio)."""
    return clip(path) if job.files.inside(Path(path)) else "a folder outside the file roots"
