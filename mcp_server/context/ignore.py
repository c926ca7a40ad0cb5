"""What git ignores, as git reads it: .gitignore files, one per folder, each relative to its own folder, the deepest
deciding; and, at a repository's top folder, below them all, the repository's `info/exclude` and the user's global
excludes file (`core.excludesFile` in ~/.gitconfig, else $XDG_CONFIG_HOME/git/ignore), as `git status` and review's
`ls-files --exclude-standard` honour them: a file a user keeps out of git there is private, and no reader sends it.

Matching is pathspec's GitIgnoreSpec (git's wildmatch rules, negation, anchoring, `dir/` patterns). Git's own
precedence is kept: within a file the last matching line wins, a file in a deeper folder overrides its parents, and a
.gitignore overrides info/exclude, which overrides the global file. A folder that is ignored is not entered, so
nothing under it can be re-included, as in git.
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from mcp_server.policy import names

if TYPE_CHECKING:  # pathspec (31 modules) loads with the first .gitignore read, not at start-up
    from pathspec import GitIgnoreSpec

IGNORE_FILE = ".gitignore"
MAX_IGNORE_BYTES = 256 * 1024  # a .gitignore larger than this is not a real one; it is not read
MAX_PARENT_LEVELS = 64  # how far up a walk looks for the repository root whose .gitignore files apply
MAX_GITDIR_BYTES = 4096
_EXCLUDES = re.compile(r"(?ims)^\s*\[core\][^\[]*?^\s*excludesfile\s*=\s*([^\n#;]+)")


@dataclass(frozen=True)
class Rules:
    """The .gitignore files that apply in one folder, shallowest first, each with the folder it sits in."""

    specs: tuple[tuple[str, GitIgnoreSpec], ...] = ()

    def ignored(self, path: str, is_dir: bool) -> bool:
        """Whether git would ignore `path` (a real path inside the folder these rules are for)."""
        for base, spec in reversed(self.specs):
            relative = path[len(base) + 1 :] if base != "/" else path[1:]
            result = spec.check_file(relative + "/" if is_dir else relative)
            if result.include is not None:
                return result.include
        return False

    def entering(self, folder: str) -> Rules:
        """The rules inside `folder`: these, plus its own .gitignore if it has one (and, at a repository's top
        folder, its info/exclude and the global excludes file before it)."""
        specs = self.specs
        git = os.path.join(folder, ".git")
        if os.path.lexists(git):
            for path in (global_excludes(), _info_exclude(git)):
                excluded = None if path is None else _load(path)
                if excluded is not None:
                    specs = (*specs, (folder, excluded))
        spec = _load(os.path.join(folder, IGNORE_FILE))
        specs = specs if spec is None else (*specs, (folder, spec))
        return self if specs is self.specs else Rules(specs)


def rules_above(start: Path, allowed: Callable[[Path], bool]) -> Rules:
    """The .gitignore files of the folders between the repository root and `start` (excluded), when `start` is
    inside a git repository; `allowed(real)` says which folders may be read (the file roots)."""
    chain: list[Path] = []
    folder = start
    for _ in range(MAX_PARENT_LEVELS):
        if folder.parent == folder:
            return Rules()  # no repository above: only the .gitignore files found while walking apply
        folder = folder.parent
        if not allowed(folder):
            return Rules()
        chain.append(folder)
        if os.path.lexists(folder / ".git"):
            break
    else:
        return Rules()
    rules = Rules()
    for parent in reversed(chain):
        rules = rules.entering(str(parent))
    return rules


def _info_exclude(git: str) -> str | None:
    """The repository's info/exclude: in `.git/`, or in the git folder a `.git` file names (a worktree's shared one,
    by its `commondir`)."""
    if os.path.isdir(git):  # a .git symlink's exclude only adds to what is ignored
        return os.path.join(git, "info", "exclude")
    with contextlib.suppress(OSError, ValueError):
        with open(git, "rb") as file:
            line = file.read(MAX_GITDIR_BYTES).decode("utf-8", "surrogateescape").strip()
        if not line.startswith("gitdir:"):
            return None
        folder = os.path.join(os.path.dirname(git), line.removeprefix("gitdir:").strip())
        with contextlib.suppress(OSError), open(os.path.join(folder, "commondir"), "rb") as file:
            folder = os.path.join(folder, file.read(MAX_GITDIR_BYTES).decode("utf-8", "surrogateescape").strip())
        return os.path.join(folder, "info", "exclude")
    return None


def global_excludes() -> str | None:
    """The user's global excludes file as git finds it: `core.excludesFile` in ~/.gitconfig (a plain `[core]`
    entry; includes are not followed), else $XDG_CONFIG_HOME/git/ignore (~/.config/git/ignore)."""
    home = names.home()
    if home is None:
        return None
    with contextlib.suppress(OSError, ValueError):
        with open(home / ".gitconfig", "rb") as file:
            found = _EXCLUDES.search(file.read(MAX_IGNORE_BYTES).decode("utf-8", "replace"))
        if found is not None:
            return os.path.expanduser(found.group(1).strip().strip('"'))
    config = os.environ.get("XDG_CONFIG_HOME") or str(home / ".config")  # git's own default, read as git reads it
    return os.path.join(config, "git", "ignore")


def _load(path: str) -> GitIgnoreSpec | None:
    # O_NONBLOCK: a FIFO named .gitignore must not hang the walk; only a small regular file is read.
    with contextlib.suppress(OSError, ValueError):
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
        try:
            info = os.fstat(fd)
            if not (info.st_mode & 0o170000 == 0o100000 and 0 < info.st_size <= MAX_IGNORE_BYTES):
                return None
            data = os.read(fd, MAX_IGNORE_BYTES)
        finally:
            os.close(fd)
        from pathspec import GitIgnoreSpec

        # re2 matches in time linear in the path: Python's backtracking regexes, pathspec's default, are
        # exponential on a hostile line such as `a*/**/a*/**/...` (one took 91 s on a 30-level folder).
        lines = data.decode("utf-8", "replace").splitlines()
        return GitIgnoreSpec.from_lines(lines, backend="re2")
    return None
