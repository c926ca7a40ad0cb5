"""Reading a local file as a source: one refusal per way it can fail, checked before anything is read."""

from __future__ import annotations

import contextlib
import os
import stat
from pathlib import Path
from typing import BinaryIO

from mcp_server.core.errors import InputError
from mcp_server.media.messages import clip, format_size, too_large
from mcp_server.policy.access import FileAccess
from mcp_server.policy.names import home
from mcp_server.policy.opening import Redirected, open_checked
from mcp_server.policy.places import Places, secret_places


def resolve(text: str, base_dir: Path) -> Path:
    """The path a caller meant: `~` expanded, relative paths taken from `base_dir`."""
    path = Path(text)
    # "~someone" with no such user raises; keep it literal and let the existence check report it.
    with contextlib.suppress(RuntimeError):
        path = path.expanduser()
    return path if path.is_absolute() else base_dir / path


def readable(path: Path, files: FileAccess) -> bool:
    """Whether the path names something this caller may read; False for names no file system accepts, and for
    anything outside the file roots, whose existence is not the caller's business (runs in a worker thread)."""
    try:
        return files.resolve(path).exists()
    except (OSError, ValueError, InputError):  # over-long names and NUL characters raise instead of returning False
        return False


def read_file(path: Path, limit: int, files: FileAccess) -> bytes:
    """Read a regular file of at most `limit` bytes that `files` allows (runs in a worker thread)."""
    name = clip(str(path))
    real = files.resolve(path)
    places = _refuse_secret(real, name)
    _check_file(real, limit, name)
    try:
        data = _read_bytes(real, limit, files, path, places)
    except PermissionError as e:
        raise InputError(f"{name} cannot be read: permission denied; check its permissions") from e
    except OSError as e:
        raise InputError(f"{name} cannot be read ({e.strerror or type(e).__name__})") from e
    if not data:
        raise InputError(f"{name} is empty; pass an image or PDF with content")
    if len(data) > limit:  # it grew after the size check
        raise InputError(f"{name} is larger than the {format_size(limit)} limit")
    return data


def open_file(path: Path, limit: int, files: FileAccess) -> tuple[BinaryIO, int]:
    """Open a regular file of at most `limit` bytes that `files` allows, without reading it: (file, size). The
    caller closes it (runs in a worker thread)."""
    name = clip(str(path))
    real = files.resolve(path)
    places = _refuse_secret(real, name)
    _check_file(real, limit, name)
    try:
        file = _open(real, name, places)
    except PermissionError as e:
        raise InputError(f"{name} cannot be read: permission denied; check its permissions") from e
    except OSError as e:
        raise InputError(f"{name} cannot be read ({e.strerror or type(e).__name__})") from e
    try:
        files.check_open(file.fileno(), path)
        size = os.fstat(file.fileno()).st_size  # the file opened, whatever the name pointed at when checked
        if not stat.S_ISREG(os.fstat(file.fileno()).st_mode) or size == 0 or size > limit:
            _check_file(real, limit, name)  # says which; raises unless the file changed back meanwhile
            raise InputError(f"{name} changed while it was being opened; try again")
    except BaseException:
        file.close()
        raise
    return file, size


def _check_file(path: Path, limit: int, name: str) -> None:
    try:
        info = path.stat()
    except (FileNotFoundError, NotADirectoryError) as e:
        raise InputError(f"{name} does not exist; check the path") from e
    except ValueError as e:  # a NUL character, which no file name can contain
        raise InputError("the path contains a NUL character; pass a valid path") from e
    except PermissionError as e:
        raise InputError(f"{name} cannot be read: permission denied; check its permissions") from e
    except OSError as e:
        raise InputError(f"{name} cannot be read ({e.strerror or type(e).__name__})") from e
    if stat.S_ISDIR(info.st_mode):
        raise InputError(f"{name} is a directory; pass an image or PDF file")
    if not stat.S_ISREG(info.st_mode):
        raise InputError(f"{name} is not a regular file (a device, pipe or socket); pass an image or PDF file")
    if info.st_size == 0:
        raise InputError(f"{name} is empty; pass an image or PDF with content")
    if info.st_size > limit:
        raise too_large(name, info.st_size, limit)


def _read_bytes(path: Path, limit: int, files: FileAccess, shown: Path, places: Places) -> bytes:
    # One byte past the limit tells a file that grew since stat() from one that is exactly at it.
    with _open(path, clip(str(shown)), places) as file:
        files.check_open(file.fileno(), shown)
        return file.read(limit + 1)


def _refuse_secret(path: Path, name: str) -> Places:
    """The policy's secret places (the same as for `files`), after refusing a path that lies in one."""
    places = secret_places(home())
    try:
        real = os.path.realpath(path)
    except ValueError as e:  # a NUL character, which no file name can contain
        raise InputError("the path contains a NUL character; pass a valid path") from e
    if places.holds(real):
        raise InputError(
            f"{name} is refused: it lies where keys, credentials or system files are kept; nothing was sent"
        )
    return places


def _open(path: Path, name: str, places: Places) -> BinaryIO:
    """Open exactly the real path checked: no swapped symlink followed, no secret place, no hard link into one."""
    try:
        fd = open_checked(os.path.realpath(path), places)
    except Redirected as e:
        raise InputError(f"{name} is refused: {e.reason}; nothing was sent") from None
    try:
        info = os.fstat(fd)
        if info.st_nlink > 1 and places.linked((info.st_dev, info.st_ino)):
            raise InputError(f"{name} is refused: it is a hard link to a file where keys or credentials are kept")
        os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise
