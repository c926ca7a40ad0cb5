"""pypdfium2: count a PDF's pages when it is opened, rasterise one page per call afterwards.

pdfium is not thread-safe, so each page is one worker-thread call under a process-wide lock, and the document is
re-opened from the in-memory bytes for every page instead of being held open: no pdfium handle outlives a call, and
a tool that stops early has nothing to close. Re-reading the cross-reference table is cheap next to rasterising.

The threads come from the server's own `renderers` limiter, not anyio's default pool, so any number of PDFs in
flight cannot starve file reads and image decoding. A cancelled call does not wait for its page: the thread is
abandoned with a stop flag, which makes it give up while it waits for the lock (it checks every 50 ms), so at most
the page being rasterised at that moment is finished for nothing.

pypdfium2 (and Pillow) are imported inside the functions that use them, so importing this module costs nothing.
"""

from __future__ import annotations

import math
import threading
from typing import TYPE_CHECKING, Any, BinaryIO

import anyio.to_thread  # already loaded by the MCP SDK, so free at start-up

from mcp_server.errors import InputError
from mcp_server.media.images import data_url, encode_within, fit_pixels
from mcp_server.media.model import ImagePart, Limits, Source
from mcp_server.media.pages import parse_pages

if TYPE_CHECKING:
    from PIL import Image

_PDFIUM_LOCK = threading.Lock()  # pdfium keeps global state and is not thread-safe
_LOCK_POLL = 0.05  # seconds between looks at the stop flag while waiting for the lock


class _Stopped(Exception):
    """The call that wanted this page has gone."""


async def open_pdf(
    data: bytes, label: str, pages: str | None, limits: Limits, renderers: anyio.CapacityLimiter | None = None
) -> Source:
    """Count the pages and check the selection now; render each selected page when asked."""
    page_count = await _in_thread(renderers, _count_pdf_pages, data, label)
    numbers = parse_pages(pages, page_count, limits.max_pages)

    async def render(page_number: int) -> ImagePart:
        part: ImagePart = await _in_thread(renderers, _render_pdf_page, data, page_number, limits, label)
        return part

    return Source("pdf", page_count, numbers, [], render)


async def _in_thread(renderers: anyio.CapacityLimiter | None, fn: Any, *args: Any) -> Any:
    stop = threading.Event()
    try:
        return await anyio.to_thread.run_sync(fn, *args, stop, limiter=renderers, abandon_on_cancel=True)
    finally:
        stop.set()  # done, or cancelled: an abandoned thread still waiting for pdfium gives up


def _locked(stop: threading.Event) -> bool:
    """Take the pdfium lock unless the caller has gone first (runs in a worker thread)."""
    while not _PDFIUM_LOCK.acquire(timeout=_LOCK_POLL):
        if stop.is_set():
            return False
    if stop.is_set():
        _PDFIUM_LOCK.release()
        return False
    return True


def _pdfium() -> Any:
    import pypdfium2  # type: ignore[import-untyped]  # ships no type information

    return pypdfium2


def _count_pdf_pages(data: bytes, label: str, stop: threading.Event) -> int:
    pdfium = _pdfium()
    if not _locked(stop):
        raise _Stopped
    try:
        document = _open_document(pdfium, data, label)
        try:
            page_count: int = len(document)
        finally:
            document.close()
    finally:
        _PDFIUM_LOCK.release()
    if page_count == 0:
        raise InputError(f"{label} is a PDF without pages")
    return page_count


def _open_document(pdfium: Any, data: bytes | BinaryIO, label: str) -> Any:
    try:
        return pdfium.PdfDocument(data)
    except pdfium.PdfiumError as e:
        if e.err_code == pdfium.raw.FPDF_ERR_PASSWORD:
            raise InputError(f"{label} is an encrypted PDF; remove its password (e.g. qpdf --decrypt) and retry") from e
        raise InputError(f"{label} is not a readable PDF; it may be damaged or truncated") from e


def _render_pdf_page(data: bytes, page_number: int, limits: Limits, label: str, stop: threading.Event) -> ImagePart:
    """Rasterise one page to an RGB PNG within the limits (runs in a worker thread)."""
    img, full_size = _rasterise(data, page_number, limits, label, stop)
    with img:
        # Rasterised to fit already; this only catches a pixel of rounding from the rendering scale.
        target = fit_pixels(img.size, limits.max_image_pixels)
        encoded, size = encode_within(img, target, True, limits.max_image_bytes)
    return ImagePart(
        url=data_url("image/png", encoded),
        mime="image/png",
        width=size[0],
        height=size[1],
        original_width=full_size[0],
        original_height=full_size[1],
        resized=size != full_size,
        page=page_number,
        byte_size=len(encoded),
    )


def _rasterise(
    data: bytes, page_number: int, limits: Limits, label: str, stop: threading.Event
) -> tuple[Image.Image, tuple[int, int]]:
    pdfium = _pdfium()
    if not _locked(stop):
        raise _Stopped
    try:
        document = _open_document(pdfium, data, label)
        try:
            document.init_forms()  # so filled-in form fields are drawn, not just the empty form
            page = document[page_number - 1]
            try:
                return _rasterise_page(page, limits)
            finally:
                page.close()
        except (pdfium.PdfiumError, ValueError) as e:
            raise InputError(f"page {page_number} of {label} could not be rendered; the PDF may be damaged") from e
        finally:
            document.close()
    finally:
        _PDFIUM_LOCK.release()


def _rasterise_page(page: Any, limits: Limits) -> tuple[Image.Image, tuple[int, int]]:
    scale = limits.pdf_dpi / 72  # PDF user space is 1/72 inch
    width, height = page.get_size()
    full_size = (math.ceil(width * scale), math.ceil(height * scale))
    # Render straight at the reduced size instead of building a bitmap that can run to hundreds of MB.
    shrink = min(1.0, math.sqrt(limits.max_image_pixels / (full_size[0] * full_size[1])))
    bitmap = page.render(scale=scale * shrink, rev_byteorder=True)
    try:
        with bitmap.to_pil() as shared:
            img: Image.Image = shared.convert("RGB")  # a copy: the bitmap's buffer is freed below
    finally:
        bitmap.close()
    return img, full_size
