"""What a source's bytes are, told by magic numbers, never by a file name."""

from __future__ import annotations

import codecs
from io import BytesIO
from typing import BinaryIO, Literal

from mcp_server.media.office import office_kind

Format = Literal["png", "jpeg", "webp", "gif", "pdf", "docx", "pptx"]
ImageFormat = Literal["png", "jpeg", "webp", "gif"]
OFFICE: frozenset[Format] = frozenset({"docx", "pptx"})  # read by DeepSeek's OCR API only
_ZIP = b"PK\x03\x04"
HEAD_BYTES = 1024  # what sniffing reads of a file's start

# Kinds named in refusals; the file's own bytes are never echoed, since a misnamed key must not leak into a reply.
_KNOWN_KINDS: tuple[tuple[bytes, str], ...] = (
    (_ZIP, "a ZIP archive (.zip, .xlsx, .odt, ...: of ZIPs only Word and PowerPoint files are read)"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "a legacy or password-protected Office file (.doc, .ppt, .xls)"),
    (b"\x7fELF", "an ELF executable"),
    (b"\x1f\x8b", "gzip-compressed data"),
    (b"-----BEGIN", "a PEM key or certificate"),
    (b"II*\x00", "a TIFF image"),
    (b"MM\x00*", "a TIFF image"),
    (b"BM", "a BMP image"),
)


def sniff(data: bytes) -> Format | None:
    """Name the format by its magic number, or None when it is not one the provider accepts."""
    if data.startswith(_ZIP):
        return office_kind(BytesIO(data), len(data))
    return sniff_head(data)


def sniff_file(file: BinaryIO, size: int) -> Format | None:
    """As `sniff`, for an open file: reads its first KiB, and for a ZIP its directory, never the whole file."""
    file.seek(0)
    head = file.read(HEAD_BYTES)
    if head.startswith(_ZIP):
        return office_kind(file, size)
    return sniff_head(head)


def sniff_head(data: bytes) -> Format | None:
    """The formats told by their first KiB alone (everything but the Office files)."""
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


def image_format(kind: Format) -> ImageFormat | None:
    """`kind` as an image format, None for a PDF or an Office file."""
    return _IMAGES.get(kind)


_IMAGES: dict[Format, ImageFormat] = {"png": "png", "jpeg": "jpeg", "webp": "webp", "gif": "gif"}


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
