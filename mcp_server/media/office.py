"""Telling a Word or PowerPoint file (OOXML: a ZIP with `[Content_Types].xml` and `word/` or `ppt/` parts) from
any other ZIP, by its bytes, without reading more of it than its directory.

zipfile reads the whole central directory into one object per entry, so a 100 MiB ZIP of two million empty entries
would cost gigabytes; the end-of-directory record is read first and a directory over the bounds below is refused
before zipfile sees it. Office files have tens to a few thousand parts.
"""

from __future__ import annotations

import struct
import zipfile
from typing import BinaryIO, Literal

Office = Literal["docx", "pptx"]

MAX_ENTRIES = 20_000
MAX_DIRECTORY_BYTES = 8 * 1024 * 1024
_EOCD = b"PK\x05\x06"
_EOCD_SIZE = 22
_MAX_COMMENT = 65_535
_ZIP64_LOCATOR = b"PK\x06\x07"
_ZIP64_EOCD = b"PK\x06\x06"


def office_kind(file: BinaryIO, size: int) -> Office | None:
    """ "docx" or "pptx" for an OOXML document, None for any other ZIP or anything that is not one."""
    bounds = _directory_bounds(file, size)
    if bounds is None or bounds[0] > MAX_ENTRIES or bounds[1] > MAX_DIRECTORY_BYTES:
        return None
    try:
        file.seek(0)
        with zipfile.ZipFile(file) as archive:
            names = archive.namelist()
    except (zipfile.BadZipFile, OSError, ValueError, EOFError, struct.error, NotImplementedError):
        return None
    if "[Content_Types].xml" not in names:
        return None
    if any(name.startswith("word/") for name in names):
        return "docx"
    if any(name.startswith("ppt/") for name in names):
        return "pptx"
    return None


def _directory_bounds(file: BinaryIO, size: int) -> tuple[int, int] | None:
    """(entries, central directory bytes) from the end-of-directory record, ZIP64's if it has one; None if absent."""
    start = max(0, size - _EOCD_SIZE - _MAX_COMMENT)
    file.seek(start)
    tail = file.read(size - start)
    at = tail.rfind(_EOCD)
    if at < 0 or len(tail) - at < _EOCD_SIZE:
        return None
    entries, directory = struct.unpack_from("<HI", tail, at + 10)
    if entries != 0xFFFF and directory != 0xFFFFFFFF:
        return entries, directory
    locator = tail[at - 20 : at] if at >= 20 else b""
    if not locator.startswith(_ZIP64_LOCATOR):
        return None
    (record_at,) = struct.unpack_from("<Q", locator, 8)
    if record_at + 56 > size:
        return None
    file.seek(record_at)
    record = file.read(56)
    if not record.startswith(_ZIP64_EOCD):
        return None
    entries64, directory64 = struct.unpack_from("<QQ", record, 32)
    return entries64, directory64
