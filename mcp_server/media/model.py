"""The values that media loading hands back: limits in, image parts and opened sources out."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Literal

import anyio

from mcp_server.core.errors import InputError


class PageFailed(InputError):
    """One page of a document that could not be rendered (its worker died on it, it took too long, it is damaged
    or too large to send): that page is lost, the document's other pages can still be read."""


@dataclass(frozen=True)
class Limits:
    """Size limits applied to every source; the defaults follow the provider's vision limits (WIRE.md §2)."""

    max_source_bytes: int = 32 * 1024 * 1024
    max_image_bytes: int = 8 * 1024 * 1024
    max_image_pixels: int = 1280 * 1280 * 4  # sent as is up to this; larger images are downscaled to it
    max_decode_pixels: int = 50_000_000  # refused over this, from the header, before decoding (RGBA: 200 MB)
    max_pages: int = 50
    pdf_dpi: int = 144


@dataclass(frozen=True)
class ImagePart:
    """One OpenAI `image_url` part as it goes upstream."""

    url: str
    mime: str | None  # None for a URL passed through
    width: int | None  # pixels as sent; None for a URL passed through
    height: int | None
    original_width: int | None
    original_height: int | None
    resized: bool
    page: int | None  # 1-based PDF page number; None for a plain image or URL
    byte_size: int  # size of the encoded image; 0 for a URL passed through


@dataclass(frozen=True)
class Source:
    """An opened, validated source whose pages are rendered on request."""

    kind: Literal["image", "pdf", "url"]
    page_count: int
    page_numbers: list[int]  # the selected pages, sorted
    notes: list[str]  # about the source as a whole (a GIF's other frames); each part's resize is told by resize_note
    _renderer: Callable[[int], Awaitable[ImagePart]] = field(repr=False, compare=False)
    _closer: Callable[[], Awaitable[None]] | None = field(default=None, repr=False, compare=False)

    async def render(self, page_number: int) -> ImagePart:
        """Render one page (1-based); safe to call concurrently: pages render on the worker processes. Raises
        PageFailed for a page that cannot be rendered."""
        if not 1 <= page_number <= self.page_count:
            raise ValueError(f"page {page_number} is outside 1..{self.page_count}")
        return await self._renderer(page_number)

    async def aclose(self) -> None:
        """Release what the source holds (a PDF's temporary file, and the workers' hold on it)."""
        if self._closer is not None:
            await self._closer()

    async def __aenter__(self) -> Source:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        with anyio.CancelScope(shield=True):  # released even by a cancelled call
            await self.aclose()


def resize_note(part: ImagePart) -> str | None:
    """A remark for the user when a part was shrunk to fit the limits, else None."""
    if not part.resized:
        return None
    before = f"{part.original_width}x{part.original_height}"
    after = f"{part.width}x{part.height}"
    if part.page is not None:
        return f"page {part.page} rendered at {after} instead of {before} to fit the provider's limits"
    if before == after:
        return f"image re-encoded as {part.mime} to fit the provider's size limit"
    return f"image downscaled from {before} to {after} to fit the provider's limits"


def notes_for(source: Source, parts: list[ImagePart]) -> list[str]:
    """Everything to tell about a source as sent: its own notes, then each part's resize, once each."""
    return list(source.notes) + [note for part in parts if (note := resize_note(part)) is not None]
