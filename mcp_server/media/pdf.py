"""PDFs: count the pages when the source is opened, rasterise one page per call afterwards, on the rendering
workers (renderer.py, pdf_worker.py), never in the server's own process.

The bytes are written once to a private temporary file that every worker opens by path (pdfium reads it lazily), so
a 32 MiB PDF is not copied to a worker for each page; the file is deleted when the call ends (`Source.close`).
pdfium is never loaded in the server process: a crash on a hostile PDF ends a worker, not the server.
"""

from __future__ import annotations

import contextlib
import os
import tempfile

import anyio
import anyio.to_thread  # already loaded by the MCP SDK, so free at start-up

from mcp_server.core import threads
from mcp_server.media.images import data_url
from mcp_server.media.model import ImagePart, Limits, PageFailed, Source
from mcp_server.media.pages import parse_pages
from mcp_server.media.renderer import Failed, PageJob, Renderer

JPEG_QUALITY = 85  # bench/README.md: the OCR text of pages is unchanged down to 75; 85 keeps a margin


async def open_pdf(data: bytes, label: str, pages: str | None, limits: Limits, renderer: Renderer) -> Source:
    """Count the pages and check the selection now; render each selected page when asked."""
    path = await threads.run(_spill, data, abandon_on_cancel=False)
    try:
        counted = await renderer.pages_of(path, label)
        numbers = parse_pages(pages, counted, limits.max_pages)
    except BaseException:
        _remove(path)
        with anyio.CancelScope(shield=True):
            await renderer.forget(path)  # the worker that counted it holds it open: deleted, but still on disk
        raise

    async def render(page_number: int) -> ImagePart:
        job = PageJob(
            path,
            page_number,
            limits.pdf_dpi,
            limits.max_image_pixels,
            limits.max_image_bytes,
            JPEG_QUALITY,
        )
        done = await renderer.render(job)
        if isinstance(done, Failed):
            raise PageFailed(f"page {page_number} of {label} {done.message}")
        if len(done.data) > limits.max_image_bytes:
            raise PageFailed(f"page {page_number} of {label} does not fit the provider's image size limit")
        return ImagePart(
            url=data_url(done.mime, done.data),
            mime=done.mime,
            width=done.width,
            height=done.height,
            original_width=done.full_width,
            original_height=done.full_height,
            resized=(done.width, done.height) != (done.full_width, done.full_height),
            page=page_number,
            byte_size=len(done.data),
        )

    async def close() -> None:
        _remove(path)
        await renderer.forget(path)

    return Source("pdf", counted, numbers, [], render, close)


def _spill(data: bytes) -> str:
    """The PDF's bytes in a file only this user can read (runs in a worker thread)."""
    fd, path = tempfile.mkstemp(prefix="deepseek-mcp-", suffix=".pdf")
    try:
        with os.fdopen(fd, "wb") as file:
            file.write(data)
    except BaseException:
        _remove(path)
        raise
    return path


def _remove(path: str) -> None:
    with contextlib.suppress(OSError):
        os.unlink(path)
