"""Reading one found file as text: regular, within the cap, unchanged while read, UTF-8, and free of secrets.

The bytes decide, never the name: a NUL byte or invalid UTF-8 means binary (or another encoding), and the text is
searched for keys before it can be sent.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from mcp_server.context.model import Found, Job, Skip
from mcp_server.errors import InputError
from mcp_server.quoting import format_size

_FLAGS = os.O_RDONLY | os.O_CLOEXEC | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
_BOM = "\ufeff"


def read_text(found: Found, job: Job) -> str | Skip:
    """The file's text, or why it is skipped (a FIFO swapped in since the walk cannot block: O_NONBLOCK)."""
    cap = job.limits.context_file_bytes
    try:
        fd = os.open(found.real, _FLAGS)
    except OSError as e:
        return Skip(found.label, _os_reason(e))
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            return Skip(found.label, "not a regular file (a device, pipe or socket)")
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
    return _decode(found, data, job)


def _decode(found: Found, data: bytes, job: Job) -> str | Skip:
    return decode(found.label, data, job)


def decode(label: str, data: bytes, job: Job) -> str | Skip:
    """Bytes read from anywhere (a file, a git object) as text to send, or why they are skipped."""
    if b"\x00" in data:
        return Skip(label, "binary (it holds NUL bytes)")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return Skip(label, "binary or not UTF-8 text")
    kind = job.scanner.finding(text)
    if kind is not None:
        return Skip(label, f"it holds {kind}", True)
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
    return f"cannot be read ({e.strerror or type(e).__name__})"
