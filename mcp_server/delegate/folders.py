"""Where scratch copies live: a private temp folder of this user's, one folder per run, and the sweep of those a
crashed server left behind.

The private folder is `deepseek-mcp-<uid>` in the system's temp folder, created 0700; one that is a symlink, not a
folder, another user's, or open to others is refused, never used or cleaned. Each run's folder inside it is named
`delegate-<random>` and holds `lock` (an flock held for the life of the run) and `tree` (the copy). The kernel frees
an flock when its holder dies, so at the next start a folder whose lock can be taken is a crashed run's leftover
and is removed; a live run's lock cannot be taken, whichever process holds it. Nothing outside the private folder,
and nothing in it not named `delegate-*`, is ever removed.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import stat
import sys
import tempfile
import time
import weakref
from pathlib import Path

from mcp_server.core.errors import InputError

try:
    import fcntl
except ImportError:  # Windows: no flock; leftovers are swept by age alone
    fcntl = None  # type: ignore[assignment]

PREFIX = "delegate-"
_YOUNG = 120.0  # seconds: a folder without a lock file this young may be a run still being set up


class Scratch:
    """One run's folder: `tree` is the copy the model edits and the check runs in. Its lock is released when the
    object is collected too, so a copy nobody removed is swept at the next start."""

    def __init__(self, folder: Path, tree: Path, lock: int) -> None:
        self.folder = folder
        self.tree = tree
        self._release = weakref.finalize(self, os.close, lock)

    def remove(self) -> None:
        """Remove the whole folder (the copy and its lock); safe to call twice."""
        _remove(self.folder)
        self._release()


def private_folder(base: str | None = None) -> Path:
    """This user's private temp folder, created 0700 when missing; InputError when it cannot be trusted."""
    user = os.getuid() if hasattr(os, "getuid") else os.getlogin()
    folder = Path(base or tempfile.gettempdir()) / f"deepseek-mcp-{user}"
    with contextlib.suppress(FileExistsError):
        folder.mkdir(mode=0o700)
    info = os.lstat(folder)
    owner = info.st_uid == os.getuid() if hasattr(os, "getuid") else True
    if not stat.S_ISDIR(info.st_mode) or not owner or info.st_mode & 0o077:
        raise InputError(
            f"{folder} is not a private folder of this user's (a symlink, another user's, or open to others), so no "
            "scratch copy is made there; remove it, or set TMPDIR to another folder"
        )
    return folder


def make(base: str | None = None) -> Scratch:
    """A new run folder with its lock held, and its empty `tree`."""
    folder = Path(tempfile.mkdtemp(prefix=PREFIX, dir=private_folder(base)))
    lock = os.open(folder / "lock", os.O_RDWR | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o600)
    if fcntl is not None:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    tree = folder / "tree"
    tree.mkdir(mode=0o700)
    return Scratch(folder, tree, lock)


def sweep(base: str | None = None) -> int:
    """Remove the run folders of this user's that no live run holds (a crash's leftovers); how many were removed."""
    try:
        folder = private_folder(base)
        names = [name for name in os.listdir(folder) if name.startswith(PREFIX)]
    except (OSError, InputError):
        return 0
    removed = 0
    for name in names:
        path = folder / name
        if _abandoned(path):
            _remove(path)
            removed += 1
    return removed


def _abandoned(path: Path) -> bool:
    try:
        info = os.lstat(path)
        if not stat.S_ISDIR(info.st_mode):
            return False
        lock = os.open(path / "lock", os.O_RDWR | getattr(os, "O_NOFOLLOW", 0))
    except FileNotFoundError:
        return time.time() - info.st_mtime > _YOUNG  # set up but never locked: a crash between the two steps
    except OSError:
        return False
    try:
        if fcntl is None:
            return time.time() - info.st_mtime > 24 * 3600
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            return False  # a live run holds it
        return True
    finally:
        os.close(lock)


def _remove(path: Path) -> None:
    """Remove a tree of ours, whatever a check left in it: folders without write or search permission included."""

    def retry(function: object, failed: str, _: BaseException) -> None:
        # The folder holding `failed` is one rmtree walked into (never a link). `failed` itself may be a link the
        # check left: chmod follows links, so only what is not one is chmodded (its target may lie anywhere).
        with contextlib.suppress(OSError):
            os.chmod(os.path.dirname(failed), 0o700)
            if os.path.islink(failed) or not os.path.isdir(failed):
                os.unlink(failed)
                return
            os.chmod(failed, 0o700)
            shutil.rmtree(failed, ignore_errors=True)

    if not os.path.lexists(path):
        return
    if sys.version_info >= (3, 12):
        shutil.rmtree(path, onexc=retry)
    else:  # pragma: no cover - 3.11 has only onerror (deprecated from 3.12 on)
        shutil.rmtree(path, onerror=lambda f, p, e: retry(f, p, e[1]))
