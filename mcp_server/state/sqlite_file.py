"""The SQLite file's safety and its errors: a private file in a private folder, never a link or another user's file,
and what to do when it is locked, corrupt or unusable, naming the variable."""

from __future__ import annotations

import contextlib
import os
import sqlite3
import stat
import sys
from pathlib import Path

from mcp_server.core.config import STATE_ENV
from mcp_server.state.base import StoreError

_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_SIDE_FILES = ("-wal", "-shm", "-journal", ".locks")


def private_file(path: Path) -> None:
    """Create the folder (0700, only the levels made here) and the file (0600) before SQLite opens it; refuse a
    folder any user may write, and a symlink, a non-file or another user's file at the path or beside it (the -wal,
    -shm and .locks files); make an existing file readable by others private."""
    missing = [p for p in (path.parent, *path.parent.parents) if not p.exists()]
    for folder in reversed(missing):
        with contextlib.suppress(FileExistsError):  # another server made it at the same moment
            folder.mkdir(mode=0o700)
    parent = path.parent.stat()
    if sys.platform != "win32" and parent.st_mode & stat.S_IWOTH:
        raise OSError(
            f"its folder {path.parent} may be written by every user, who could replace the file or plant a link "
            "there; use a file in a folder of your own"
        )
    for side in (path, *(path.with_name(path.name + suffix) for suffix in _SIDE_FILES)):
        _check_own(side)
    fd = os.open(path, os.O_RDWR | os.O_CREAT | _NOFOLLOW | getattr(os, "O_BINARY", 0), 0o600)
    try:
        if sys.platform != "win32" and os.fstat(fd).st_mode & 0o077:
            os.fchmod(fd, 0o600)
    finally:
        os.close(fd)
    for side in (path.with_name(path.name + suffix) for suffix in ("-wal", "-shm")):
        with contextlib.suppress(FileNotFoundError):
            if sys.platform != "win32" and side.lstat().st_mode & 0o077:
                os.chmod(side, 0o600, follow_symlinks=False)


def _check_own(path: Path) -> None:
    """Refuse a symlink, anything but a regular file, or a file another user owns, at `path` (absent is fine)."""
    try:
        found = path.lstat()
    except FileNotFoundError:
        return
    if stat.S_ISLNK(found.st_mode):
        raise OSError(f"{path} is a symbolic link; the state is never written through one: remove it")
    if not stat.S_ISREG(found.st_mode):
        raise OSError(f"{path} is not a regular file: remove it")
    if hasattr(os, "getuid") and found.st_uid != os.getuid():
        raise OSError(f"{path} belongs to another user (uid {found.st_uid}): remove it or use a file of your own")


def explain(path: Path, exc: BaseException, busy_ms: int) -> StoreError:
    """What went wrong with the file, and what to do, naming the variable."""
    text = str(exc)
    if "locked" in text or "busy" in text:
        return StoreError(
            f"the state file {path} stayed locked by another process for {busy_ms / 1000:g} s ({text}); "
            f"try again, or stop the process holding it, or set {STATE_ENV} to another file (or `memory`)"
        )
    if (
        isinstance(exc, sqlite3.DatabaseError) and not isinstance(exc, sqlite3.OperationalError)
    ) or "malformed" in text:
        return StoreError(
            f"the state file {path} is not a readable SQLite database ({text}): move it aside (its conversations and "
            f"spending records are lost) and the server makes a new one, or set {STATE_ENV} to another file"
        )
    return StoreError(f"the state file {path} cannot be used ({text}); fix it or set {STATE_ENV} to another file")
