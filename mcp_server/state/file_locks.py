"""Locks on bytes of a file, shared by processes: what SQLite's store uses for its conversations' turns.

POSIX record locks (`fcntl.lockf`) on Unix, `msvcrt.locking` on Windows: the kernel frees them when their holder
dies, so a lock cannot outlive a crashed server. Record locks belong to the process, and closing any descriptor of
the file drops all of them: so the process opens each lock file once (counted), and two calls in one process take an
in-process lock first (`IN_PROCESS`, which the save after a call's answer frees).
"""

from __future__ import annotations

import os
import sys
import threading
from pathlib import Path

from mcp_server.state.turn_locks import TurnLocks

IN_PROCESS = TurnLocks()  # keyed by the database's path and the conversation id
_LOCK_FILES: dict[Path, tuple[int, int]] = {}
_LOCK_FILES_GUARD = threading.Lock()
INIT_GUARD = threading.Lock()
INIT_BYTE = 2**31  # conversations hash to bytes below it


def open_lock_file(path: Path) -> int:
    """The process's one descriptor of `path` (created 0600), counted: each opener calls `close_lock_file` once."""
    with _LOCK_FILES_GUARD:
        fd, users = _LOCK_FILES.get(path) or (
            os.open(path, os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_BINARY", 0), 0o600),
            0,
        )
        _LOCK_FILES[path] = (fd, users + 1)
        return fd


def close_lock_file(path: Path) -> None:
    """Closed when its last opener is done (closing it earlier would drop every lock the process holds on it)."""
    with _LOCK_FILES_GUARD:
        fd, users = _LOCK_FILES[path]
        if users > 1:
            _LOCK_FILES[path] = (fd, users - 1)
        else:
            del _LOCK_FILES[path]
            os.close(fd)


if sys.platform == "win32":  # pragma: no cover - exercised on Windows only
    import msvcrt

    def try_lock(fd: int, offset: int) -> bool:
        os.lseek(fd, offset, os.SEEK_SET)
        try:
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
        except OSError:
            return False
        return True

    def unlock(fd: int, offset: int) -> None:
        os.lseek(fd, offset, os.SEEK_SET)
        msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)

else:
    import fcntl

    def try_lock(fd: int, offset: int) -> bool:
        try:
            fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB, 1, offset)
        except OSError:
            return False
        return True

    def unlock(fd: int, offset: int) -> None:
        fcntl.lockf(fd, fcntl.LOCK_UN, 1, offset)
