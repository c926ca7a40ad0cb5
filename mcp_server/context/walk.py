"""Walking the folders a call names: what is found to read, and what is skipped and why, without reading a byte.

The walk never follows a symlinked folder (so it cannot leave the file roots through one, nor loop), and remembers
each folder's (device, inode) against bind mounts that would loop anyway. It is bounded by the entries it looks at,
the depth below each path given, and the time it takes (Job.check_time).
"""

from __future__ import annotations

import itertools
import os
import stat
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from mcp_server.config import FILE_ROOTS_ENV
from mcp_server.context.ignore import Rules, rules_above
from mcp_server.context.model import Found, Job, Skip
from mcp_server.errors import InputError
from mcp_server.policy import names
from mcp_server.quoting import format_size

_CHECK_EVERY = 256  # entries between looks at the clock and the stop flag


class Walk:
    """Everything found under the paths of one call, and everything skipped."""

    def __init__(self, job: Job) -> None:
        self.job = job
        self.found: list[Found] = []
        self.skipped: list[Skip] = []
        self._entries = 0
        self._folders: set[tuple[int, int]] = set()
        # A folder the walk enters is not in a secret place, so below it only the place itself can be met.
        self._places = frozenset(job.places)
        self._top = Path("/")

    def folder(self, real: Path, label: str) -> None:
        """Walk a folder given in `files` (its real path; `label` is its path relative to the common root)."""
        self._top = real
        rules = rules_above(real, lambda folder: self.job.files.inside(folder))
        stack = [(str(real), label, rules, 0)]
        while stack:
            folder, shown, rules, depth = stack.pop()
            info = _stat(folder)
            if info is None or (info.st_dev, info.st_ino) in self._folders:
                continue
            self._folders.add((info.st_dev, info.st_ino))
            rules = rules.entering(folder)
            for entry in self._entries_of(folder, shown):
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
        self._top = top
        here = Entered(str(top), "", rules_above(top, lambda folder: self.job.files.inside(folder)))
        for depth, name in enumerate(parts):
            rules = here.rules.entering(here.real)
            entry = _named(here.real, name, self.job.limits.context_entries)
            if entry is None:
                return None
            found, skipped = len(self.found), len(self.skipped)
            child = self._entry(entry, here.real, here.label, rules)
            if len(self.skipped) > skipped:
                return self.skipped[-1]
            if child is None:
                return self.found[-1] if len(self.found) > found and depth == len(parts) - 1 else None
            here = Entered(*child, rules)
        return here

    def listing(self, folder: Entered) -> list[Entered]:
        """One folder's entries, without walking further: files go to `found`, skips to `skipped`, and the folders
        a walk would enter are returned."""
        rules = folder.rules.entering(folder.real)
        entered = []
        for entry in self._entries_of(folder.real, folder.label):
            child = self._entry(entry, folder.real, folder.label, rules)
            if child is not None:
                entered.append(Entered(*child, rules))
        return entered

    def file(self, real: Path, label: str, info: os.stat_result) -> None:
        """A file given in `files` itself: no name rule skips it (a secret name is refused before the walk)."""
        self.found.append(Found(label, str(real), info.st_size, True, (info.st_dev, info.st_ino)))

    def _entries_of(self, folder: str, shown: str) -> list[os.DirEntry[str]]:
        left = self.job.limits.context_entries - self._entries
        try:
            with os.scandir(folder) as listing:  # a folder of a million entries is read no further than the bound
                entries = list(itertools.islice(listing, left + 1))
        except OSError as e:
            self._skip(f"{shown}/" if shown else "./", f"cannot be listed ({e.strerror or type(e).__name__})")
            return []
        self._count(len(entries), shown)
        return sorted(entries, key=lambda e: e.name)

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
                reason = self._folder_reason(name, real, rules)
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

    def _folder_reason(self, name: str, real: str, rules: Rules) -> tuple[str, bool] | None:
        if name in names.SECRET_DIRS or real in self._places:
            return "a folder of keys or credentials", True
        if names.skipped_dir(name):
            return "a vendored, generated or tool folder", False
        if rules.ignored(real, True):
            return "gitignored", False
        if os.path.lexists(f"{real}/{names.VENV_MARKER}"):
            return "a virtualenv", False
        return None

    def _candidate(self, name: str, real: str, label: str, rules: Rules, info: os.stat_result) -> None:
        if names.secret_name(name):
            self._skip(label, "named like a secret", True)
        elif rules.ignored(real, False):
            self._skip(label, "gitignored")
        elif names.generated_name(name) or name in names.VCS:
            self._skip(label, "a lock file, generated or version-control file")
        elif not stat.S_ISREG(info.st_mode):
            self._skip(label, "not a regular file (a device, pipe or socket)")
        elif info.st_size > self.job.limits.context_file_bytes:
            self._skip(label, f"larger than {format_size(self.job.limits.context_file_bytes)} (the cap per file)")
        else:
            self.found.append(Found(label, real, info.st_size, False, (info.st_dev, info.st_ino)))

    def _link(self, real: str, label: str, rules: Rules) -> None:
        if rules.ignored(real, False):
            self._skip(label, "gitignored")
            return
        try:
            target = os.path.realpath(real, strict=True)
            info = os.stat(target)
        except (OSError, RuntimeError):
            self._skip(label, "a broken symlink")
            return
        if not self.job.files.inside(Path(target)):
            self._skip(label, f"a symlink to a path outside {FILE_ROOTS_ENV}")
        elif not Path(target).is_relative_to(self._top):
            # A repository's `notes.md -> ~/.config/...` must not carry that file out; name it directly to send it.
            self._skip(label, "a symlink out of the folder given (not followed)")
        elif stat.S_ISDIR(info.st_mode):
            self._skip(f"{label}/", "a symlink to a folder (not followed)")
        elif names.under_secret_place(target, self.job.places) or names.secret_name(os.path.basename(target)):
            self._skip(label, "a symlink to a secret", True)
        else:
            self._candidate(os.path.basename(real), target, label, Rules(), info)

    def _skip(self, path: str, reason: str, secret: bool = False) -> None:
        self.skipped.append(Skip(path, reason, secret))


@dataclass(frozen=True)
class Entered:
    """A folder a walk would enter: its real path, its label, and the .gitignore rules of the folders above it."""

    real: str
    label: str
    rules: Rules


def _named(folder: str, name: str, most: int) -> os.DirEntry[str] | None:
    """The entry called `name` in `folder` (a DirEntry, so `place` judges it exactly as a walk does)."""
    try:
        with os.scandir(folder) as listing:
            return next((e for e in itertools.islice(listing, most) if e.name == name), None)
    except OSError:
        return None


def utf8(name: str) -> bool:
    """Whether a name can go into JSON as it is (undecodable file-name bytes arrive as lone surrogates)."""
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _stat(path: str) -> os.stat_result | None:
    try:
        return os.stat(path)
    except OSError:
        return None
