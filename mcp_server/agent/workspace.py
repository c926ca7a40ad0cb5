"""The folder an investigation explores, and how a path the model writes becomes a file or folder in it.

Every path is relative to the folder investigated. `..`, absolute paths and `~` are refused outright; every other
path is judged name by name by the same walk as `files` (mcp_server/context/walk.py): version control, vendored
and generated trees, .gitignore, symlinked folders, symlinks out of the folder or the file roots, and names of
secrets are all refused for the same reasons there; a symlink to a file is judged under its own name and as its
target would be, the paths given included. Reading goes through `files`' reader (caps, binary, secrets by
content). A refusal is text for the model, never an exception: it is told why and carries on.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path

from mcp_server.context.model import Found, Job, Skip
from mcp_server.context.read import read_text
from mcp_server.context.walk import Entered, Walk, secret_identities
from mcp_server.core.config import Limits
from mcp_server.core.quoting import clip, format_size
from mcp_server.policy.access import FileAccess
from mcp_server.policy.places import Places
from mcp_server.policy.scan import Scanner

from .seen import Seen

MAX_PATH_CHARS = 4096


class Refused(Exception):
    """A function call that cannot be answered; the message is what the model is told."""


@dataclass
class Workspace:
    """One investigation's folder (its real path), the policy it reads under, and what it has read so far."""

    root: Path
    files: FileAccess
    limits: Limits
    scanner: Scanner
    places: Places
    scopes: tuple[str, ...] = ("",)  # labels of the paths given, below `root` ("" is all of it)
    stop: threading.Event = field(default_factory=threading.Event)  # set when the call is cancelled
    bytes_read: int = 0
    seen: Seen = field(default_factory=Seen)  # the lines delivered to the model, for checking its citations
    _secret_ids: frozenset[tuple[int, int]] | None = field(default=None, repr=False)

    def visible(self, label: str, folder: bool) -> bool:
        """Whether a path is among those given, or (a folder) on the way to one of them."""
        if any(not s or label == s or label.startswith(f"{s}/") for s in self.scopes):
            return True
        return folder and any(not label or s.startswith(f"{label}/") for s in self.scopes)

    def job(self) -> Job:
        """A fresh job per function call: its clock (limits.context_seconds) and entry count start at zero."""
        job = Job(
            self.root, self.files, self.limits, self.limits.max_context_tokens, self.scanner, self.places, self.stop
        )
        job.more_secrets = self.secret_ids
        return job

    def secret_ids(self) -> frozenset[tuple[int, int]]:
        """The identities of the files named like secrets in the folder investigated, gathered once, when a file with
        more than one link is first read (so a hard link to the .env is refused), within the walk's bounds."""
        if self._secret_ids is None:
            self._secret_ids = secret_identities(self.job(), self.root)
        return self._secret_ids

    def folder(self, text: str | None) -> tuple[Walk, Entered]:
        found = self.locate(text)
        if not isinstance(found[1], Entered):
            raise Refused(f"{_shown(text)} is a file, not a folder; use read_file")
        return found[0], found[1]

    def file(self, text: str | None) -> Found:
        _, found = self.locate(text)
        if isinstance(found, Entered):
            raise Refused(f"{_shown(text)} is a folder, not a file; use list_dir or glob")
        return found

    def locate(self, text: str | None) -> tuple[Walk, Found | Entered]:
        """The file or folder `text` names, with the walk that judged it; raises Refused saying why not."""
        parts = _parts(text)
        if not self.visible("/".join(parts), True):  # before the walk: nothing is said about what lies outside
            raise Refused(f"{_shown(text)} is outside the paths given to this investigation")
        walk = Walk(self.job(), self.visible)  # a symlink to a file outside the paths given is refused too
        found = walk.place(self.root, parts)
        if found is None:
            raise Refused(
                f"{_shown(text)} does not exist (paths are relative to the folder investigated; list_dir with path "
                '"" shows its top)'
            )
        if isinstance(found, Skip):
            never = "; its content is never sent" if found.secret else ""
            raise Refused(f"{_shown(text)} is refused: {_why(found, parts)}{never}")
        if not self.visible(found.label, isinstance(found, Entered)):
            raise Refused(f"{_shown(text)} is outside the paths given to this investigation")
        return walk, found

    def read(self, found: Found, job: Job) -> str | Skip:
        """A file's text through `files`' reader, counted against the bytes one investigation may read."""
        if self.bytes_read + found.size > self.limits.context_total_bytes:
            raise Refused(
                f"this investigation has read {format_size(self.bytes_read)}; reading {found.label} would pass the "
                f"{format_size(self.limits.context_total_bytes)} one investigation may read: answer from what you have"
            )
        self.bytes_read += found.size
        return read_text(found, job)

    def text(self, found: Found) -> str:
        """A file's text, or Refused (binary, too large, a secret inside)."""
        result = self.read(found, self.job())
        if isinstance(result, Skip):
            never = "; its content is never sent" if result.secret else ""
            raise Refused(f"{found.label} is refused: {result.reason}{never}")
        return result


def lines_of(text: str) -> list[str]:
    """A file's lines as editors and `path:LINE` count them: split at "\n" only (not at form feeds or U+2028, as
    str.splitlines does), a "\r" before it dropped."""
    lines = text.split("\n")
    if lines[-1] == "":
        lines.pop()
    return [line.removesuffix("\r") for line in lines]


def _parts(text: str | None) -> list[str]:
    text = (text or "").strip()
    if len(text) > MAX_PATH_CHARS or "\x00" in text:
        raise Refused("the path is not valid (too long, or a NUL character)")
    if text.startswith(("/", "~", "\\")) or (len(text) > 1 and text[1] == ":"):
        raise Refused(
            f"{_shown(text)} is refused: absolute paths and ~ are not allowed; paths are relative to the folder "
            "investigated"
        )
    parts = [part for part in text.split("/") if part not in ("", ".")]
    if ".." in parts:
        raise Refused(f"{_shown(text)} is refused: `..` is not allowed; only the folder investigated can be read")
    return parts


def _why(skip: Skip, parts: list[str]) -> str:
    # The walk names the first entry it would not pass; say which, when it is a folder above the path asked for.
    asked = "/".join(parts)
    where = skip.path.rstrip("/")
    return skip.reason if where == asked else f"{skip.path} is skipped ({skip.reason})"


def _shown(text: str | None) -> str:
    return clip(repr(text or ""), 200)
