"""Reading one found file as text: regular, within the cap, unchanged while read, UTF-8, and free of secrets.

The bytes decide, never the name: a NUL byte or invalid UTF-8 means binary (or another encoding), and the text is
searched for keys before it can be sent.
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

from mcp_server.context.model import Found, Job, Skip
from mcp_server.core.errors import InputError
from mcp_server.core.quoting import format_size
from mcp_server.policy.opening import Redirected

_BOM = "\ufeff"


def read_text(found: Found, job: Job) -> str | Skip:
    """The file's text, or why it is skipped (a FIFO swapped in since the walk cannot block: O_NONBLOCK).

    The file opened is the one checked: no symlink on its path is followed, it lies in no secret place, and it is
    no hard link to a file in one (policy.opening, policy.places) nor to a file the walk skipped as secret by name."""
    data = read_bytes(found, job)
    return data if isinstance(data, Skip) else decode(found.label, data, job)


def read_bytes(found: Found, job: Job) -> bytes | Skip:
    """The file's bytes, read under every check of `read_text` but the ones on content (binary, secrets): delegate
    copies binary files too, and scans their bytes itself."""
    cap = job.limits.context_file_bytes
    try:
        fd = job.open_file(found.real)
    except Redirected as e:
        return Skip(found.label, e.reason, True)
    except OSError as e:
        return Skip(found.label, _os_reason(e))
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            return Skip(found.label, "not a regular file (a device, pipe or socket)")
        if info.st_nlink > 1 and job.places.linked((info.st_dev, info.st_ino)):
            return Skip(found.label, "it is a hard link to a file where keys or credentials are kept", True)
        if info.st_nlink > 1 and job.named_secret((info.st_dev, info.st_ino)):
            return Skip(found.label, "it is a hard link to a file named like a secret", True)
        if info.st_size > cap:
            return Skip(found.label, f"larger than {format_size(cap)} (the cap per file)")
        if job.files.roots is not None:  # no roots: nothing to check, and no Path to build for 5,000 files
            try:
                job.files.check_open(fd, Path(found.real))
            except InputError:
                return Skip(found.label, "it resolved outside the file roots when opened", True)
        data = _read(fd, cap + 1)
    except OSError as e:
        return Skip(found.label, _os_reason(e))
    finally:
        os.close(fd)
    if len(data) != info.st_size:  # one byte past the cap tells a file that grew from one exactly at it
        return Skip(found.label, "it changed size while it was read; try again")
    return data


def decode(label: str, data: bytes, job: Job) -> str | Skip:
    """Bytes read from anywhere (a file, a git object) as text to send, or why they are skipped."""
    if b"\x00" in data:
        return Skip(label, "binary (it holds NUL bytes)")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return Skip(label, "binary or not UTF-8 text")
    finding = job.scanner.find_bytes(data)  # the bytes as read: re2 runs on them without a copy
    if finding is not None:
        return Skip(label, finding.reason, True)
    return text.removeprefix(_BOM)


def _read(fd: int, most: int) -> bytes:
    chunks: list[bytes] = []
    left = most
    while left > 0:
        chunk = os.read(fd, min(left, 1 << 20))
        if not chunk:
            break
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def _os_reason(e: OSError) -> str:
    if isinstance(e, PermissionError):
        return "permission denied"
    if isinstance(e, FileNotFoundError):
        return "it disappeared before it was read"
    if isinstance(e, OSError) and e.errno in (errno.ELOOP, errno.ENOTDIR):
        return "something on its path changed into a symlink while it was read (not followed)"
    return f"cannot be read ({e.strerror or type(e).__name__})"
