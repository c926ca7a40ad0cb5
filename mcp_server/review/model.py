"""The shapes of a gathered change: what is compared, each changed file, and what was left out."""

from __future__ import annotations

from dataclasses import dataclass, field

from mcp_server.context.model import Skip


@dataclass(frozen=True)
class Sides:
    """What is compared: `left` a commit or tree id; `right` a commit id, or None for the working tree."""

    left: str
    right: str | None
    shown: str  # for the prompt and the result: "the working tree against HEAD (1a2b3c4d)"

    @property
    def ids(self) -> list[str]:
        """As git diff takes them: one id compares the working tree with it."""
        return [self.left] if self.right is None else [self.left, self.right]


@dataclass(frozen=True)
class Entry:
    """One line of `git diff --raw -z`: a changed path and what happened to it."""

    status: str  # A, M, D, R, C, T, U (unmerged), or "?" for an untracked file
    path: str  # the path after the change (before it, for a deletion)
    old_path: str | None  # a rename's or copy's source
    old_mode: str
    new_mode: str
    old_id: str
    new_id: str  # all zeros: the working tree's file, not hashed by git

    @property
    def paths(self) -> tuple[str, ...]:
        return (self.old_path, self.path) if self.old_path else (self.path,)


@dataclass(frozen=True)
class ChangedFile:
    """A changed file as the reviewer gets it."""

    path: str
    old_path: str | None
    status: str  # "added", "modified", "deleted", "renamed", ...
    patch: str  # its part of the diff (hunks holding a secret replaced by a line saying so); "" when summarised
    summary: str  # one line when the patch is not sent: "binary", "larger than 1.0 MiB", "a submodule ..."
    text: str | None  # the whole file after the change, when sent
    added: frozenset[int] = frozenset()  # lines of the file after the change that the diff adds or replaces


@dataclass(frozen=True)
class Change:
    """One review's change: sides, changed files in path order, and everything withheld or summarised."""

    sides: Sides
    top: str  # the work tree's top folder (real path)
    files: tuple[ChangedFile, ...]
    skipped: tuple[Skip, ...]
    notices: tuple[str, ...] = ()
    block: str = ""  # what DeepSeek receives before the instructions (render.py)
    tokens: int = 0
    diff_bytes: int = 0
    texts: dict[str, str] = field(default_factory=dict)  # path -> whole text, for checking findings

    def file(self, path: str) -> ChangedFile | None:
        return next((f for f in self.files if f.path == path), None)
