"""Open a whole document for DeepSeek's OCR API, which takes the file itself (up to 100 MiB) instead of page images.

A local file is opened, checked and sniffed, never read whole: the upload streams it from disk, so a 100 MiB file
costs no 100 MiB of memory (a data: URL or base64 source is already in memory, and at most 36 MiB). A PDF is counted,
its selected pages sized and, when only some are selected, copied into a PDF of their own (pdf_extract.py). Word
and PowerPoint files are accepted here only, told from other ZIPs by their parts (office.py); their pages are
counted by the API, so a `pages` selection is applied to its answer.

Box pixels: a PDF page's frame is the page at 144 dpi, the chat route's rendering size, so both routes agree; an
image's frame is its own pixel size; an Office file's pages have no size here, and their boxes stay 0-999.
"""

from __future__ import annotations

import contextlib
import os
import struct
import warnings
from dataclasses import dataclass, field
from io import BytesIO
from pathlib import Path
from typing import BinaryIO

from mcp_server.core import threads
from mcp_server.core.errors import InputError
from mcp_server.media.files import open_file, readable, resolve
from mcp_server.media.formats import Format, image_format, sniff_file
from mcp_server.media.messages import clip
from mcp_server.media.model import Limits
from mcp_server.media.pages import parse_pages
from mcp_server.media.pdf_extract import plan_pdf
from mcp_server.media.renderer import Renderer
from mcp_server.media.sources import (
    _BASE64,
    _SCHEME_RE,
    _decode_base64,
    _decode_data_url,
    _looks_like_base64,
    _not_media,
)
from mcp_server.policy.access import FileAccess

_MIME: dict[Format, str] = {
    "pdf": "application/pdf",
    "docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "pptx": "application/vnd.openxmlformats-officedocument.presentationml.presentation",
    "png": "image/png",
    "jpeg": "image/jpeg",
    "webp": "image/webp",
    "gif": "image/gif",
}
_EXTENSION: dict[Format, str] = {"jpeg": "jpg"}


@dataclass
class Document:
    """A file ready to upload, and how its answer maps back onto pages."""

    kind: Format
    label: str
    upload: BinaryIO
    size: int  # bytes uploaded
    numbers: list[int] | None  # page numbers in upload order; None when the API counts them (Office files)
    sizes: dict[int, tuple[int, int]]  # page number -> pixels of the frame boxes are given in; {} when unknown
    selection: str | None = None  # a `pages` selection still to apply to the answer (Office files)
    page_count: int | None = None  # pages in the source, when known
    notes: list[str] = field(default_factory=list)
    _files: list[BinaryIO] = field(default_factory=list, repr=False)

    @property
    def filename(self) -> str:
        # A neutral name: the API wants one, and the caller's own file names stay on this machine.
        return f"document.{_EXTENSION.get(self.kind, self.kind)}"

    @property
    def mime(self) -> str:
        return _MIME[self.kind]

    def close(self) -> None:
        for file in self._files:
            with contextlib.suppress(OSError):
                file.close()


async def open_document(
    source: str,
    *,
    pages: str | None,
    max_bytes: int,
    max_pages: int,
    base_dir: Path,
    files: FileAccess,
    renderer: Renderer,
) -> Document:
    """Open, check and plan `source` for upload; raises InputError for anything unusable. Close the result."""
    file, size, label = await _open(source.strip(), max_bytes, base_dir, files)
    opened: list[BinaryIO] = [file]
    try:
        document = await _plan(file, size, label, pages, max_pages, renderer)
    except BaseException:
        file.close()
        raise
    document._files = [*opened, document.upload]
    return document


async def _open(text: str, max_bytes: int, base_dir: Path, files: FileAccess) -> tuple[BinaryIO, int, str]:
    if not text:
        raise InputError("the source is empty; pass a local path, a data: URL or base64")
    match = _SCHEME_RE.match(text)
    scheme = match[1].lower() if match else None
    limits = Limits(max_source_bytes=max_bytes)
    if scheme == "data":
        data = _decode_data_url(text, limits)
        return BytesIO(data), len(data), "the data: URL"
    if scheme is not None:
        raise InputError(
            f"{clip(scheme, 40)}: sources are not supported; pass only http(s) URLs, data: URLs, base64 or local paths"
        )
    path = resolve(text, base_dir)
    compact = "".join(text.split())
    if _looks_like_base64(compact) and not await threads.run(readable, path, files):
        data = _decode_base64(compact, _BASE64, limits)
        return BytesIO(data), len(data), _BASE64
    file, size = await threads.run(open_file, path, max_bytes, files, discard=_close_opened)
    return file, size, clip(str(path))


def _close_opened(opened: tuple[BinaryIO, int]) -> None:
    """A file opened after its call left (a read that hung, then answered): closed, not leaked."""
    opened[0].close()


async def _plan(
    file: BinaryIO, size: int, label: str, pages: str | None, max_pages: int, renderer: Renderer
) -> Document:
    if size == 0:
        raise InputError(f"{label} is empty; pass a document or image with content")
    kind = await threads.run(sniff_file, file, size)
    if kind is None:
        file.seek(0)
        raise _not_media(file.read(4096), label)
    if kind == "pdf":
        plan = await plan_pdf(file, label, pages, max_pages, Limits.pdf_dpi, renderer)
        upload = file if plan.extract is None else plan.extract
        notes = [] if plan.extract is None else [_extracted(plan.numbers, plan.page_count)]
        sent = size if plan.extract is None else os.fstat(plan.extract.fileno()).st_size
        return Document(kind, label, upload, sent, plan.numbers, plan.sizes, None, plan.page_count, notes)
    image = image_format(kind)
    if image is None:  # Word or PowerPoint: the API counts the pages; check the selection's form now
        parse_pages(pages, max_pages, max_pages)
        return Document(kind, label, file, size, None, {}, pages)
    numbers = parse_pages(pages, 1, max_pages)
    pixels = await threads.run(_image_size, file, image.upper(), label)
    return Document(kind, label, file, size, numbers, {1: pixels} if pixels else {}, None, 1)


def _image_size(file: BinaryIO, pil_format: str, label: str) -> tuple[int, int] | None:
    """The pixel size from the image's header, nothing decoded; None past Pillow's bomb limit, where the API
    still reads it but boxes stay 0-999 (runs in a worker thread)."""
    from PIL import Image

    file.seek(0)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)  # nothing is decoded here
            with Image.open(file, formats=[pil_format]) as img:
                width, height = img.size
    except Image.DecompressionBombError:
        return None
    except (OSError, ValueError, SyntaxError, EOFError, struct.error) as e:
        raise InputError(f"{label} looks like an image but its header cannot be read; it may be damaged") from e
    return int(width), int(height)


def _extracted(numbers: list[int], page_count: int) -> str:
    return f"only the {len(numbers)} selected of {page_count} pages were uploaded (copied into a PDF of their own)"
