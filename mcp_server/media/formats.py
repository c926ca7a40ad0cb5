"""What a source's bytes are, told by magic numbers, never by a file name."""

from __future__ import annotations

import codecs
from typing import Literal

Format = Literal["png", "jpeg", "webp", "gif", "pdf"]
ImageFormat = Literal["png", "jpeg", "webp", "gif"]

# Kinds named in refusals; the file's own bytes are never echoed, since a misnamed key must not leak into a reply.
_KNOWN_KINDS: tuple[tuple[bytes, str], ...] = (
    (b"PK\x03\x04", "a ZIP archive (.zip, .docx, .xlsx, ...)"),
    (b"\x7fELF", "an ELF executable"),
    (b"\x1f\x8b", "gzip-compressed data"),
    (b"-----BEGIN", "a PEM key or certificate"),
    (b"II*\x00", "a TIFF image"),
    (b"MM\x00*", "a TIFF image"),
    (b"BM", "a BMP image"),
)


def sniff(data: bytes) -> Format | None:
    """Name the format by its magic number, or None when it is not one the provider accepts."""
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if data.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if data.startswith((b"GIF87a", b"GIF89a")):
        return "gif"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "webp"
    # PDF readers accept a header anywhere in the first KiB, after junk some generators prepend.
    if b"%PDF-" in data[:1024]:
        return "pdf"
    return None


def describe(data: bytes) -> str:
    """What bytes that `sniff` refused look like, for the refusal ("a ZIP archive", "text", ...)."""
    for magic, kind in _KNOWN_KINDS:
        if data.startswith(magic):
            return kind
    if data[4:8] == b"ftyp":
        return "an ISO media file (HEIC, AVIF or video)"
    sample = data[:4096]
    if b"\x00" not in sample:
        try:
            codecs.getincrementaldecoder("utf-8")().decode(sample, final=False)
        except UnicodeDecodeError:
            return "unknown binary data"
        return "text"
    return "unknown binary data"
