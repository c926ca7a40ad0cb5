"""Where secrets are kept (~/.ssh, ~/.docker, /etc/shadow, /proc ...), matched as the file system compares paths.

A path is in a secret place when one of its ancestors is a place, or a backup copy of one (`/etc/shadow-`,
`~/.ssh.bak/`), or a key folder by name (`.ssh`, `.aws` ... anywhere). Case is folded where the file system folds
it (macOS, Windows: `~/.SSH/config` is `~/.ssh/config`), and on Windows both separators count. The flavour is a
parameter, so the Windows and macOS rules are tested on Linux.

A hard link is another name for the same file: one inside a project to `~/.docker/config.json` has an innocent
path. So the (device, inode) of the files in the places are gathered once, lazily (only when a file with more than
one link is met), and a file with the same identity is refused. They are gathered in four groups of at most
MAX_LINKED files each, the secret files at the top of home and /etc first and browser profiles last, so a big
profile cannot use up the budget before ~/.pgpass is reached.
"""

from __future__ import annotations

import os
import stat
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path, PurePath

from mcp_server.policy.names import (
    BROWSER_DIRS,
    HOME_SECRET_DIRS,
    SECRET_DIRS,
    SYSTEM_SECRET_PATHS,
    secret_name,
    unbackup,
)

WINDOWS = os.name == "nt"
FOLDS = sys.platform in ("darwin", "win32")  # the default file systems there ignore case
MAX_LINKED = 20_000  # files in the secret places whose identities are gathered
_DEPTH = 8  # folders deep below a place
_CACHED = 10_000  # folders whose answer is remembered


@dataclass(frozen=True)
class Places:
    paths: tuple[str, ...]  # as given, for reading the places themselves
    windows: bool = WINDOWS
    fold: bool = FOLDS
    home: str | None = None
    _index: frozenset[str] = field(init=False, repr=False, compare=False)
    _dirs: frozenset[str] = field(init=False, repr=False, compare=False)
    _parents: dict[str, bool] = field(default_factory=dict, repr=False, compare=False)
    _linked: dict[str, frozenset[tuple[int, int]]] = field(default_factory=dict, repr=False, compare=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_index", frozenset(self._norm(p).rstrip("/") for p in self.paths))
        object.__setattr__(self, "_dirs", frozenset(self._norm(name) for name in SECRET_DIRS))

    def _norm(self, path: str) -> str:
        if self.windows:
            path = path.replace("\\", "/")
        return path.casefold() if self.fold else path

    def holds(self, real: str) -> bool:
        """Whether `real` (a real path) is a secret place, inside one, a backup of one, or has a key folder in it."""
        parent, _, name = self._norm(real).rstrip("/").rpartition("/")
        held = self._parents.get(parent)  # the files of one folder share its answer: 5,000 files, 50 folders
        if held is None:
            held = self._walk(parent)
            if len(self._parents) < _CACHED:
                self._parents[parent] = held
        return held or self._step(parent, name)

    def _walk(self, path: str) -> bool:
        parts = path.split("/")
        prefix = parts[0]
        if prefix in self._index:
            return True
        for part in parts[1:]:
            if part and self._step(prefix, part):
                return True
            prefix = f"{prefix}/{part}"
        return False

    def _step(self, parent: str, part: str) -> bool:
        """Whether the component `part` below `parent` is a place, a backup of one, or a key folder."""
        name = unbackup(part)
        return name in self._dirs or f"{parent}/{part}" in self._index or f"{parent}/{name}" in self._index

    def linked(self, identity: tuple[int, int]) -> bool:
        """Whether a file of this (device, inode) is one of the files in the secret places (a hard link to it)."""
        with self._lock:
            if "all" not in self._linked:
                self._linked["all"] = frozenset(self._identities())
        return identity in self._linked["all"]

    def _identities(self) -> set[tuple[int, int]]:
        """Gathered in groups, each within its own budget, the likeliest targets first: the files secret by name at
        the top of home and /etc (~/.pgpass, ~/.netrc, /etc/shadow-), then the key folders (~/.ssh, ~/.aws, /etc/ssh
        ...), then the other home places, then browser profiles (tens of thousands of files, so they cannot use
        up the budget of the others)."""
        found: set[tuple[int, int]] = set()
        top: list[str] = []  # files at the top of home and /etc that are secret by name or a backup of a place
        folders: list[str] = []  # backups of key folders at the top (~/.ssh.bak)
        for folder in ("/etc", self.home):
            if folder is not None:
                for name in _names(folder):
                    path = f"{folder}/{name}"
                    if secret_name(name) or self.holds(path):
                        (folders if os.path.isdir(path) and not os.path.islink(path) else top).append(path)
        home = [] if self.home is None else [f"{self.home}/{name}" for name in HOME_SECRET_DIRS]
        browsers = [f"{self.home}/{name}" for name in BROWSER_DIRS if self.home is not None]
        keys = [p for p in self.paths if p not in home and not p.startswith(("/proc", "/sys", "/dev"))]
        others = [p for p in home if p not in browsers]
        for group, depth in ((top, _DEPTH), (keys + folders, 0), (others, 0), (browsers, 0)):
            budget = [MAX_LINKED]
            for place in group:
                _gather(place, found, budget, depth)
        return found


def _names(folder: str) -> list[str]:
    try:
        with os.scandir(folder) as listing:
            return [entry.name for entry in listing]
    except OSError:
        return []


def _gather(path: str, found: set[tuple[int, int]], budget: list[int], depth: int) -> None:
    """The identities of the regular files at or below `path` (links not followed), within the budget."""
    if budget[0] <= 0:
        return
    budget[0] -= 1
    try:
        info = os.lstat(path)
    except OSError:
        return
    if stat.S_ISREG(info.st_mode):
        found.add((info.st_dev, info.st_ino))
    elif stat.S_ISDIR(info.st_mode) and depth < _DEPTH:
        for name in _names(path):
            _gather(f"{path}/{name}", found, budget, depth + 1)


def secret_places(home: Path | PurePath | str | None, *, windows: bool = WINDOWS, fold: bool = FOLDS) -> Places:
    """The places under which nothing is ever read, for this home directory and file-system flavour."""
    places = [] if windows else list(SYSTEM_SECRET_PATHS)
    home_text = None if home is None else str(home).rstrip("/\\")
    if home_text is not None:
        places += [f"{home_text}/{name}" for name in (*SECRET_DIRS, *HOME_SECRET_DIRS)]
    return Places(tuple(places), windows, fold, home_text)


def under_secret_place(real: str, places: Places) -> bool:
    """Whether a real path is in a secret place, a backup of one (/etc/shadow-), or has a key folder in its path."""
    return places.holds(real)
