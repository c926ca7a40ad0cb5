"""PDFs for DeepSeek's OCR API, which reads whole PDFs itself: count the pages, size the selected ones, and when only
some are wanted, copy those into a new PDF so that only they are uploaded (and billed).

Extracting locally beats uploading everything and dropping pages from the answer: the OCR API bills per page and
takes at most 1,000 pages and 180 s, and the copy costs milliseconds (bench/ocr_pages.py measures it).

pdfium runs in the rendering workers (renderer.py), as for the chat route. They read a private copy of the file
made from the caller's open file object (streamed, in constant memory), so a path is never reopened after the
file access checks; the copy, and the extract the worker writes, are unlinked as soon as they are open, so
nothing is left on disk whatever happens to the call.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from dataclasses import dataclass
from typing import BinaryIO

import anyio

from mcp_server.core import threads
from mcp_server.core.errors import InputError
from mcp_server.media.pages import parse_pages
from mcp_server.media.renderer import Failed, Renderer


@dataclass(frozen=True)
class PdfPlan:
    """What to upload of a PDF: the pages in order, their size in pixels, and a copy when only some are sent."""

    page_count: int
    numbers: list[int]  # 1-based numbers of the pages sent, in the order the API will return them
    sizes: dict[int, tuple[int, int]]  # page number -> (width, height) in pixels at the rendering dpi
    extract: BinaryIO | None  # a PDF of just those pages (open, already unlinked), or None to send the source


async def plan_pdf(
    file: BinaryIO, label: str, spec: str | None, max_pages: int, dpi: int, renderer: Renderer
) -> PdfPlan:
    """Count, check the `pages` selection against the document, size the pages, extract a partial selection."""
    copy = await threads.run(_copy_of, file, discard=_remove)  # a hung read is abandoned; a late copy removed
    out: str | None = None
    try:
        counted = await renderer.pages_of(copy, label)
        numbers = parse_pages(spec, counted, max_pages)
        out = None if len(numbers) == counted else _private_path()
        sizes = await renderer.extract(copy, numbers, dpi, out)
        if isinstance(sizes, Failed):
            raise InputError(f"the pages of {label} {sizes.message}")
        extract = await threads.run(_open_unlinked, out, abandon_on_cancel=False) if out is not None else None
    finally:
        _remove(copy)
        if out is not None:
            _remove(out)
        with anyio.CancelScope(shield=True):
            await renderer.forget(copy)  # the worker's open copy goes too, not when its cache next turns over
    return PdfPlan(counted, numbers, sizes, extract)


def _copy_of(file: BinaryIO) -> str:
    """The file's bytes in a private temporary file, copied in chunks (runs in a worker thread)."""
    path = _private_path()
    try:
        with open(path, "wb") as out:
            file.seek(0)
            shutil.copyfileobj(file, out, 1024 * 1024)
    except BaseException:
        _remove(path)
        raise
    file.seek(0)
    return path


def _private_path() -> str:
    fd, path = tempfile.mkstemp(prefix="deepseek-mcp-", suffix=".pdf")  # mode 0600
    os.close(fd)
    return path


def _open_unlinked(path: str) -> BinaryIO:
    file = open(path, "rb")  # noqa: SIM115 - the caller closes it with the document
    _remove(path)  # POSIX keeps an open file readable; the name is gone at once
    return file


def _remove(path: str) -> None:
    with contextlib.suppress(OSError):
        os.unlink(path)
