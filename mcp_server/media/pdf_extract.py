"""pypdfium2 for DeepSeek's OCR API, which reads whole PDFs itself: count the pages, size the selected ones, and
when only some are wanted, copy those into a new PDF so that only they are uploaded (and billed).

Extracting locally beats uploading everything and dropping pages from the answer: the OCR API bills per page and
takes at most 1,000 pages and 180 s, and the copy costs milliseconds (bench/ocr_pages.py measures it). The copy
holds the selected pages' content in memory, never the whole source: the source stays a file on disk when it is one.

The same lock and worker threads as pdf.py (pdfium is not thread-safe); the document is opened from the caller's
file object, so a path is never reopened after the file access checks.
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass
from io import BytesIO
from typing import Any, BinaryIO

import anyio

from mcp_server.errors import InputError
from mcp_server.media.pages import parse_pages
from mcp_server.media.pdf import _PDFIUM_LOCK, _in_thread, _locked, _open_document, _pdfium, _Stopped


@dataclass(frozen=True)
class PdfPlan:
    """What to upload of a PDF: the pages in order, their size in pixels, and a copy when only some are sent."""

    page_count: int
    numbers: list[int]  # 1-based numbers of the pages sent, in the order the API will return them
    sizes: dict[int, tuple[int, int]]  # page number -> (width, height) in pixels at the rendering dpi
    extract: bytes | None  # a PDF of just those pages, or None to send the source as it is


async def plan_pdf(
    file: BinaryIO, label: str, spec: str | None, max_pages: int, dpi: int, renderers: anyio.CapacityLimiter | None
) -> PdfPlan:
    """Count, check the `pages` selection against the document, size the pages, extract a partial selection."""
    plan: PdfPlan = await _in_thread(renderers, _plan, file, label, spec, max_pages, dpi)
    return plan


def _plan(file: BinaryIO, label: str, spec: str | None, max_pages: int, dpi: int, stop: threading.Event) -> PdfPlan:
    pdfium = _pdfium()
    if not _locked(stop):
        raise _Stopped
    try:
        file.seek(0)
        document = _open_document(pdfium, file, label)
        try:
            return _plan_document(pdfium, document, label, spec, max_pages, dpi)
        finally:
            document.close()
    finally:
        _PDFIUM_LOCK.release()


def _plan_document(pdfium: Any, document: Any, label: str, spec: str | None, max_pages: int, dpi: int) -> PdfPlan:
    page_count: int = len(document)
    if page_count == 0:
        raise InputError(f"{label} is a PDF without pages")
    numbers = parse_pages(spec, page_count, max_pages)
    scale = dpi / 72  # PDF user space is 1/72 inch
    try:
        sizes = {n: _pixels(document.get_page_size(n - 1), scale) for n in numbers}
        extract = None if len(numbers) == page_count else _copy(pdfium, document, numbers)
    except (pdfium.PdfiumError, ValueError) as e:
        raise InputError(f"the pages of {label} could not be read; the PDF may be damaged") from e
    return PdfPlan(page_count, numbers, sizes, extract)


def _pixels(points: tuple[float, float], scale: float) -> tuple[int, int]:
    return math.ceil(points[0] * scale), math.ceil(points[1] * scale)


def _copy(pdfium: Any, document: Any, numbers: list[int]) -> bytes:
    copy = pdfium.PdfDocument.new()
    try:
        copy.import_pages(document, [n - 1 for n in numbers])
        buffer = BytesIO()
        copy.save(buffer)
    finally:
        copy.close()
    return buffer.getvalue()
