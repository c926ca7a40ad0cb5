"""Walking the folders a call names: what is found to read, and what is skipped and why, without reading a byte.

The walk never follows a symlinked folder (so it cannot leave the file roots through one, nor loop), and remembers
each folder's (device, inode) against bind mounts that would loop anyway. It is bounded by the entries it looks at,
the depth below each path given, and the time it takes (Job.check_time).

What is entered, found or skipped, and why, is judge.py's to say (symlinks judged under both their names there).
"""

from __future__ import annotations

import contextlib
import dataclasses
import itertools
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from mcp_server.context.ignore import Rules
from mcp_server.context.judge import Judge, Target
from mcp_server.context.model import Found, Job, Skip
from mcp_server.core.errors import InputError
from mcp_server.policy.opening import DIR_FLAGS, Redirected, open_checked

_CHECK_EVERY = 256  # entries between looks at the clock and the stop flag
_BY_FD = os.scandir in os.supports_fd  # POSIX: a folder is listed through the descriptor checked


class _Walked(Exception):
    """A folder already walked (a bind mount, or one folder reached twice)."""


class Walk:
    """Everything found under the paths of one call, and everything skipped.

    `visible` (investigate's paths): whether a path below the top, by its label from there, is among those given; a
    symlink whose target is not is skipped."""

    def __init__(self, job: Job, visible: Callable[[str, bool], bool] | None = None) -> None:
        self.job = job
        self.found: list[Found] = []
        self.skipped: list[Skip] = []
        self._entries = 0
        self._folders: set[tuple[int, int]] = set()
        self.judge = Judge(job, visible)

    def folder(self, real: Path, label: str) -> None:
        """Walk a folder given in `files` (its real path; `label` is its path relative to the common root)."""
        self.judge.at(real)
        rules = self.judge.above(real)
        stack = [(str(real), label, rules, 0)]
        while stack:
            folder, shown, rules, depth = stack.pop()
            listing = self._entries_of(folder, shown)
            if listing is None:
                continue
            fd, entries = listing
            try:  # the entries stat through the folder's descriptor: it stays open while they are looked at
                self._enter(folder, shown, self.judge.entering(rules, folder), depth, entries, stack)
            finally:
                if fd >= 0:
                    os.close(fd)

    def _enter(
        self,
        folder: str,
        shown: str,
        rules: Rules,
        depth: int,
        entries: list[os.DirEntry[str]],
        stack: list[tuple[str, str, Rules, int]],
    ) -> None:
        for entry in entries:
            child = self._entry(entry, folder, shown, rules)
            if child is not None:
                if depth + 1 > self.job.limits.context_depth:
                    self._skip(f"{child[1]}/", f"more than {self.job.limits.context_depth} folders deep")
                else:
                    stack.append((*child, rules, depth + 1))

    def place(self, top: Path, parts: Sequence[str]) -> Found | Skip | Entered | None:
        """One path below the folder `top` (its names in `parts`), judged name by name as a walk of `top` would
        judge it: the Found file or the Entered folder the walk would reach, the Skip of the first name it would not
        pass (a secret, node_modules, a gitignored or symlinked entry...), or None when there is no such entry."""
        self.judge.at(top)
        here = Entered(str(top), "", self.judge.above(top))
        for depth, name in enumerate(parts):
            rules = self.judge.entering(here.rules, here.real)
            found, skipped = len(self.found), len(self.skipped)
            opened = self._entries_of(here.real, here.label)  # through checked descriptors, as a walk lists it
            if opened is None:
                return self.skipped[-1] if len(self.skipped) > skipped else None
            fd, entries = opened
            try:
                entry = next((e for e in entries if e.name == name), None)
                child = None if entry is None else self._entry(entry, here.real, here.label, rules)
            finally:
                os.close(fd)
            if entry is None:
                return None
            if len(self.skipped) > skipped:
                return self.skipped[-1]
            if child is None:
                return self.found[-1] if len(self.found) > found and depth == len(parts) - 1 else None
            here = Entered(*child, rules)
        return here

    def listing(self, folder: Entered) -> list[Entered]:
        """One folder's entries, without walking further: files go to `found`, skips to `skipped`, and the folders
        a walk would enter are returned."""
        rules = self.judge.entering(folder.rules, folder.real)
        entered: list[Entered] = []
        opened = self._entries_of(folder.real, folder.label)
        if opened is None:
            return entered
        fd, entries = opened
        try:
            for entry in entries:
                child = self._entry(entry, folder.real, folder.label, rules)
                if child is not None:
                    entered.append(Entered(*child, rules))
        finally:
            os.close(fd)
        return entered

    def file(self, real: Path, label: str, info: os.stat_result) -> None:
        """A file given in `files` itself: no name rule skips it (a secret name is refused before the walk)."""
        self.found.append(Found(label, str(real), info.st_size, True, (info.st_dev, info.st_ino)))

    def _entries_of(self, folder: str, shown: str) -> tuple[int, list[os.DirEntry[str]]] | None:
        """A folder's entries, listed through a descriptor opened at exactly `folder` (no symlink followed on the
        way, not a secret place); None for a folder already walked (a bind mount) or one that cannot be listed.
        Where scandir takes no descriptor (Windows) the folder is listed by path, with fd -1."""
        left = self.job.limits.context_entries - self._entries
        where = f"{shown}/" if shown else "./"
        fd = -1
        try:
            if _BY_FD:
                fd = open_checked(folder, self.job.places, DIR_FLAGS)
            info = os.fstat(fd) if fd >= 0 else os.stat(folder)
            if (info.st_dev, info.st_ino) in self._folders:
                raise _Walked
            self._folders.add((info.st_dev, info.st_ino))
            with os.scandir(fd if fd >= 0 else folder) as listing:  # read no further than the bound
                entries = list(itertools.islice(listing, left + 1))
            self._count(len(entries), shown)
        except BaseException as e:
            if fd >= 0:
                os.close(fd)
            if isinstance(e, Redirected):
                self._skip(where, e.reason, True)
            elif isinstance(e, OSError):
                self._skip(where, f"cannot be listed ({e.strerror or type(e).__name__})")
            elif not isinstance(e, _Walked):
                raise
            return None
        return fd, sorted(entries, key=lambda e: e.name)

    def _count(self, entries: int, shown: str) -> None:
        before, self._entries = self._entries, self._entries + entries
        if before // _CHECK_EVERY != self._entries // _CHECK_EVERY:
            self.job.check_time()
        if self._entries > self.job.limits.context_entries:
            raise InputError(
                f"walking the files looked at more than {self.job.limits.context_entries:,} entries (the bound for "
                f"one call; it stopped in {shown or '.'}/); pass narrower paths: a subfolder, or the files themselves"
            )

    def _entry(self, entry: os.DirEntry[str], folder: str, shown: str, rules: Rules) -> tuple[str, str] | None:
        """Record one entry; a folder to walk into is returned as (real path, label)."""
        name = entry.name
        label = f"{shown}/{name}" if shown else name
        if not utf8(name):  # it could not be labelled in the JSON sent upstream
            self._skip(label.encode("utf-8", "backslashreplace").decode(), "its name is not UTF-8")
            return None
        real = f"{folder.rstrip('/')}/{name}"
        try:
            if entry.is_symlink():
                self._link(real, label, rules)
                return None
            if entry.is_dir(follow_symlinks=False):
                reason = self.judge.folder_reason(name, real, rules)
                if reason is None:
                    return real, label
                self._skip(f"{label}/", *reason)
                return None
            info = entry.stat(follow_symlinks=False)
        except OSError as e:
            self._skip(label, f"cannot be read ({e.strerror or type(e).__name__})")
            return None
        self._candidate(name, real, label, rules, info)
        return None

    def _candidate(self, name: str, real: str, label: str, rules: Rules, info: os.stat_result) -> None:
        reason = self.judge.file_reason(name, real, rules, info)
        if reason is None:
            self.found.append(Found(label, real, info.st_size, False, (info.st_dev, info.st_ino)))
        else:
            self._skip(label, *reason)

    def _link(self, real: str, label: str, rules: Rules) -> None:
        verdict = self.judge.link(real, rules)
        if isinstance(verdict, Target):
            info = verdict.info
            self.found.append(Found(label, verdict.real, info.st_size, False, (info.st_dev, info.st_ino)))
        else:
            reason, secret, folder = verdict
            self._skip(f"{label}/" if folder else label, reason, secret)

    def _skip(self, path: str, reason: str, secret: bool = False) -> None:
        self.skipped.append(Skip(path, reason, secret))


@dataclass(frozen=True)
class Entered:
    """A folder a walk would enter: its real path, its label, and the .gitignore rules of the folders above it."""

    real: str
    label: str
    rules: Rules


def utf8(name: str) -> bool:
    """Whether a name can go into JSON as it is (undecodable file-name bytes arrive as lone surrogates)."""
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def secret_identities(job: Job, folder: Path) -> frozenset[tuple[int, int]]:
    """The (device, inode) of the files named like secrets in `folder` and below, as a walk of it meets them: a
    hard link to one of them (`mail_settings.txt` for the project's .env) is refused under any name. The walk has
    its own clock and the walk's bounds; past them, the files met so far."""
    walker = dataclasses.replace(job, started=time.monotonic(), secret_ids=set(), more_secrets=None, _opener=None)
    with contextlib.suppress(InputError):
        Walk(walker).folder(folder, "")
    walker.close()
    return frozenset(walker.secret_ids)


def secrets_of(job: Job, folders: Sequence[Path]) -> Callable[[], frozenset[tuple[int, int]]]:
    """`secret_identities` of `folders`, gathered once, when first asked (only a file with several links asks)."""
    found: list[frozenset[tuple[int, int]]] = []

    def once() -> frozenset[tuple[int, int]]:
        if not found:
            found.append(frozenset().union(*(secret_identities(job, folder) for folder in dict.fromkeys(folders))))
        return found[0]

    return once
