"""DeepSeek's tool APIs (WIRE.md §13) as data a provider carries: where they are, what they take, their limits.

Routing reads these fields, never a provider's name: a provider with `OcrApi` for a mode gets that mode's OCR calls
(ahead of DeepSeek-OCR through chat and of vision models), and one with `WebApis` serves web_search and web_fetch.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

# What the OCR API guide states (api-docs.deepseek.com/guides/ocr): 100 MiB (413 past it), 1,000 pages, the
# upload within 120 s (408), 180 s in all from the start of the upload.
OCR_MAX_BYTES = 100 * 1024 * 1024
OCR_MAX_PAGES = 1000
OCR_TOTAL_SECONDS = 180.0


@dataclass(frozen=True)
class OcrApi:
    """A document OCR endpoint that takes the file itself: `multipart/form-data` with `file` and `purpose`."""

    path: str  # on the origin, version segment included
    purposes: Mapping[str, str]  # ocr mode -> the `purpose` that serves it; modes not here go through chat
    max_bytes: int = OCR_MAX_BYTES
    max_pages: int = OCR_MAX_PAGES
    total_seconds: float = OCR_TOTAL_SECONDS
    grace_seconds: float = 20.0  # past the API's own limit, for its answer to arrive; then this server gives up

    def purpose(self, mode: str) -> str | None:
        return self.purposes.get(mode)


@dataclass(frozen=True)
class WebApis:
    """Search and Fetch endpoints (JSON in, JSON out), billed per successful call."""

    search_path: str
    fetch_path: str
    max_query_chars: int = 128
    max_results: int = 50
    max_url_chars: int = 8192


DEEPSEEK_OCR = OcrApi(
    path="v1/tools/ocr",
    purposes=MappingProxyType({"markdown": "rich_layout_recognition", "text": "text_recognition"}),
)
DEEPSEEK_WEB = WebApis(search_path="v1/tools/search", fetch_path="v1/tools/fetch")
