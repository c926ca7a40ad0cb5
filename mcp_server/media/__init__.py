"""Documents and images for `ocr`: what it is given turned into image parts the provider accepts, rendered in workers.

A source is a local path, an http(s) URL, a `data:` URL or raw base64. `open_source` reads it, sniffs the bytes
(never the name), and for a PDF counts the pages and checks the `pages` selection, so input errors surface before
the first upstream call (only a damaged page can still fail when rendered). The `Source` it returns renders one page
per `render(n)` call: the tool can keep a few pages in flight and report progress page by page.

Images within the limits go upstream byte for byte; larger ones are downscaled (aspect kept) and re-encoded. Images
are prepared when the source is opened (there is only one part, so nothing to stream); PDF pages are rasterised on
demand.

Pillow and pypdfium2 are imported inside the functions that use them, so starting the server costs nothing for them.

The modules, in the order a source passes through them:

    sources.py   open_source: telling a path, URL, data: URL and base64 apart, decoding them
    files.py     reading a local file (inside DEEPSEEK_MCP_FILE_ROOTS when set), one message per refusal
    formats.py   sniffing the format from magic numbers, and naming what non-media bytes look like
    office.py    telling Word and PowerPoint files from other ZIPs, reading no more than their directory
    pages.py     the `pages` selection ("1-3,7", "5-")
    images.py    Pillow: passing an image through, or shrinking and re-encoding it to fit the limits
    pdf.py       PDFs: counting pages and rasterising one page per call, through the renderer
    renderer.py  the pool of rendering processes, each with its own pdfium
    pdf_worker.py  what runs inside a rendering process (`python -m mcp_server.media.pdf_worker`)
    grounding.py   DeepSeek-OCR's grounded output split into markdown and boxes in page pixels
    model.py     Limits, ImagePart, Source
    messages.py  how a caller's strings and byte sizes are quoted in refusals
    documents.py open_document: a whole file for DeepSeek's OCR API (streamed from disk, never read whole)
    pdf_extract.py  pypdfium2: page count, sizes, and a copy of just the selected pages, for that upload
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mcp_server.media.documents import Document, open_document
    from mcp_server.media.formats import sniff
    from mcp_server.media.model import ImagePart, Limits, PageFailed, Source, notes_for, resize_note
    from mcp_server.media.pages import parse_pages
    from mcp_server.media.sources import is_url, open_source

# Re-exported on first use, not on import: every rendering worker runs `python -m mcp_server.media.pdf_worker`, which
# imports this package first, and must start in a few hundredths of a second without the SDK (tests/reliability/
# test_workers.py holds it to that).
_HOME = {
    "Document": "documents",
    "open_document": "documents",
    "sniff": "formats",
    "ImagePart": "model",
    "Limits": "model",
    "PageFailed": "model",
    "Source": "model",
    "notes_for": "model",
    "resize_note": "model",
    "parse_pages": "pages",
    "is_url": "sources",
    "open_source": "sources",
}

__all__ = [
    "Document",
    "ImagePart",
    "Limits",
    "PageFailed",
    "Source",
    "is_url",
    "notes_for",
    "open_document",
    "open_source",
    "parse_pages",
    "resize_note",
    "sniff",
]


def __getattr__(name: str) -> Any:
    module = _HOME.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{module}"), name)
