"""Opening a file or folder at the path that was checked, and nowhere else, whatever is swapped in meanwhile.

`O_NOFOLLOW` guards only a path's last component: a folder on the way swapped for a symlink to ~/.docker between
the walk and the read would redirect the open. So after opening, the real path of the descriptor itself
(/proc/self/fd on Linux) must be the path checked, and must not lie in a secret place. Where there is no /proc,
each component is opened relative to its parent's descriptor with O_NOFOLLOW, which no swap can redirect.
"""

from __future__ import annotations

import contextlib
import os
import weakref

from mcp_server.policy.places import Places

FILE_FLAGS = os.O_RDONLY | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
DIR_FLAGS = os.O_RDONLY | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_DIRECTORY", 0)
_PROC = os.path.isdir("/proc/self/fd")
_BENEATH = os.open in os.supports_dir_fd and hasattr(os, "O_NOFOLLOW")


class Redirected(OSError):
    """The path opened is not the path checked: something on it was swapped for a symlink, or it lies in a secret
    place."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def open_checked(real: str, places: Places, flags: int = FILE_FLAGS) -> int:
    """A descriptor for exactly `real` (a real path, no symlinks in it), or OSError (Redirected when swapped)."""
    fd = open_beneath(real, flags) if not _PROC and _BENEATH else os.open(real, flags)
    try:
        opened = fd_path(fd)
        if opened is not None and opened != real:
            raise Redirected("something on its path changed into a symlink while it was read (not followed)")
        if places.holds(opened or real):
            raise Redirected("it lies where keys, credentials or system files are kept")
    except BaseException:
        os.close(fd)
        raise
    return fd


def open_beneath(real: str, flags: int) -> int:
    """Open `real` one component at a time, each relative to its parent's descriptor and with O_NOFOLLOW."""
    parts = [part for part in real.split("/") if part]
    fd = os.open("/", DIR_FLAGS)
    try:
        for part in parts[:-1]:
            child = os.open(part, DIR_FLAGS, dir_fd=fd)
            os.close(fd)
            fd = child
        last = os.open(parts[-1], flags, dir_fd=fd) if parts else os.dup(fd)
    finally:
        os.close(fd)
    return last


def fd_path(fd: int) -> str | None:
    """The real path of an open descriptor, where the system tells it (Linux: /proc/self/fd)."""
    if not _PROC:
        return None
    with contextlib.suppress(OSError):
        return os.readlink(f"/proc/self/fd/{fd}")
    return None


class Opener:
    """Opens the files of one call through their folder's descriptor, keeping the last folder's open.

    The folder is opened and checked once (open_checked); a file is then opened relative to it with O_NOFOLLOW, so
    nothing on its path can be swapped: the check costs one readlink a folder instead of one a file (a readlink in
    /proc costs three opens). Files come sorted by path, so a folder's files come together.
    """

    def __init__(self, places: Places) -> None:
        self.places = places
        self._folder: tuple[str, int] | None = None
        self._release: weakref.finalize[[int], Opener] | None = None

    def open(self, real: str) -> int:
        parent, _, name = real.rpartition("/")
        if not _BENEATH or not name or os.sep != "/":
            return open_checked(real, self.places)
        folder = self._open_folder(parent or "/")
        fd = os.open(name, FILE_FLAGS, dir_fd=folder)
        if self.places.holds(real):
            os.close(fd)
            raise Redirected("it lies where keys, credentials or system files are kept")
        return fd

    def _open_folder(self, path: str) -> int:
        if self._folder is not None and self._folder[0] == path:
            return self._folder[1]
        self.close()
        fd = open_checked(path, self.places, DIR_FLAGS)
        self._folder = (path, fd)
        self._release = weakref.finalize(self, os.close, fd)  # a caller that never closes leaks no descriptor
        return fd

    def close(self) -> None:
        if self._release is not None:
            self._release()
        self._folder = self._release = None
