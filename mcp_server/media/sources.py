"""Open what the `ocr` tool is given: a local path, an http(s) URL, a `data:` URL or raw base64.

http(s) URLs are passed through: the server never fetches anything itself. A string is read as base64 when it uses
only the base64 alphabet, has a length divisible by four, decodes strictly and names no existing file; "/" cannot
mark it as a path, since every JPEG's base64 starts with "/9j/".
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Awaitable, Callable
from pathlib import Path
from urllib.parse import urlsplit

from mcp_server.core import threads
from mcp_server.core.errors import InputError
from mcp_server.media.budget import PixelBudget
from mcp_server.media.files import read_file, readable, resolve
from mcp_server.media.formats import describe, image_format, sniff
from mcp_server.media.images import header_pixels, prepare_image
from mcp_server.media.messages import clip, too_large
from mcp_server.media.model import ImagePart, Limits, Source
from mcp_server.media.pages import parse_pages
from mcp_server.media.pdf import open_pdf
from mcp_server.media.renderer import Renderer
from mcp_server.policy.access import FileAccess

_ACCEPTED = "PNG, JPEG, WebP, GIF or PDF"
_DATA_URL = "the data: URL"  # stands in for a file name in messages
_BASE64 = "the base64 source"
_MAX_URL_CHARS = 8192  # WIRE.md §2: the provider refuses longer image URLs
_MIN_BASE64_CHARS = 16  # shorter strings are far likelier to be file names than images
_BASE64_RE = re.compile(r"[A-Za-z0-9+/]+={0,2}")
_SCHEME_RE = re.compile(r"([A-Za-z][A-Za-z0-9+.-]+):")  # two letters or more, so "C:\scan.png" is a path


def is_url(source: str) -> bool:
    """Whether `source` is an http(s) URL, which goes to the provider as a URL (never fetched here)."""
    match = _SCHEME_RE.match(source.strip())
    return match is not None and match[1].lower() in ("http", "https")


async def open_source(
    source: str,
    *,
    pages: str | None,
    limits: Limits,
    base_dir: Path,
    files: FileAccess,
    renderer: Renderer,
    budget: PixelBudget | None = None,
) -> Source:
    """Read and validate a path, http(s) URL, data: URL or base64 string; raise InputError for anything unusable.
    PDF pages are rendered by `renderer`'s worker processes; an image is decoded within `budget` (the server's)."""
    text = source.strip()
    if not text:
        raise InputError("the source is empty; pass a local path, an http(s) URL, a data: URL or base64")
    match = _SCHEME_RE.match(text)
    scheme = match[1].lower() if match else None
    if scheme in ("http", "https"):
        return _url_source(text, pages, limits)
    if scheme == "data":
        data, label = _decode_data_url(text, limits), _DATA_URL
    elif scheme is not None:
        raise InputError(
            f"{clip(scheme, 40)}: sources are not supported; pass only http(s) URLs, data: URLs, base64 or local paths"
        )
    else:
        data, label = await _read_path_or_base64(text, limits, base_dir, files)
    return await _open_bytes(data, label, pages, limits, renderer, budget or PixelBudget(limits.max_decode_pixels))


def _url_source(url: str, pages: str | None, limits: Limits) -> Source:
    if len(url) > _MAX_URL_CHARS:
        raise InputError(f"the URL is {len(url)} characters long; the provider accepts at most {_MAX_URL_CHARS}")
    if not urlsplit(url).netloc or any(c.isspace() for c in url):
        raise InputError("the URL has no host or contains spaces; pass a full http(s) URL")
    numbers = parse_pages(pages, 1, limits.max_pages)
    part = ImagePart(
        url=url,
        mime=None,
        width=None,
        height=None,
        original_width=None,
        original_height=None,
        resized=False,
        page=None,
        byte_size=0,
    )
    return Source("url", 1, numbers, [], _ready(part))


def _ready(part: ImagePart) -> Callable[[int], Awaitable[ImagePart]]:
    async def render(_page_number: int) -> ImagePart:
        return part

    return render


def _decode_data_url(text: str, limits: Limits) -> bytes:
    header, comma, payload = text[len("data:") :].partition(",")
    if not comma or not header.lower().endswith(";base64"):
        raise InputError("the data: URL must be base64-encoded: data:<mime>;base64,<data>")
    return _decode_base64(re.sub(r"\s+", "", payload), _DATA_URL, limits)


def _decode_base64(compact: str, label: str, limits: Limits) -> bytes:
    # Checked before decoding so an oversized payload is never expanded in memory.
    if len(compact) // 4 * 3 > limits.max_source_bytes:
        raise too_large(label, len(compact) // 4 * 3, limits.max_source_bytes)
    try:
        return base64.b64decode(compact, validate=True)
    except binascii.Error as e:
        raise InputError(f"{label} is not valid base64") from e


async def _read_path_or_base64(text: str, limits: Limits, base_dir: Path, files: FileAccess) -> tuple[bytes, str]:
    path = resolve(text, base_dir)
    compact = re.sub(r"\s+", "", text)
    # "/" is a base64 digit (every JPEG's base64 starts "/9j/"), so only a file the caller may read wins over base64.
    if _looks_like_base64(compact) and not await threads.run(readable, path, files):
        return _decode_base64(compact, _BASE64, limits), _BASE64
    data = await threads.run(read_file, path, limits.max_source_bytes, files)
    return data, clip(str(path))


def _looks_like_base64(compact: str) -> bool:
    return len(compact) >= _MIN_BASE64_CHARS and len(compact) % 4 == 0 and _BASE64_RE.fullmatch(compact) is not None


async def _open_bytes(
    data: bytes, label: str, pages: str | None, limits: Limits, renderer: Renderer, budget: PixelBudget
) -> Source:
    if not data:
        raise InputError(f"{label} is empty; pass an image or PDF with content")
    if len(data) > limits.max_source_bytes:
        raise too_large(label, len(data), limits.max_source_bytes)
    kind = sniff(data)
    if kind is None:
        raise _not_media(data, label)
    if kind == "pdf":
        return await open_pdf(data, label, pages, limits, renderer)
    image = image_format(kind)
    if image is None:
        raise office_refusal(label, kind)
    numbers = parse_pages(pages, 1, limits.max_pages)
    pixels = await threads.run(header_pixels, data, image)
    async with budget.hold(pixels):  # waits while other calls' decodes hold the server's budget
        part, notes = await threads.run(prepare_image, data, image, limits, label, abandon_on_cancel=False)
    return Source("image", 1, numbers, notes, _ready(part))


def office_refusal(label: str, kind: str) -> InputError:
    """Word and PowerPoint files go to DeepSeek's OCR API only; say how to get there."""
    name = "a Word document" if kind == "docx" else "a PowerPoint presentation"
    return InputError(
        f"{label} is {name}: only DeepSeek's OCR API reads those. Set DEEPSEEK_API_KEY, use mode markdown or text, "
        "and leave out `model`"
    )


def _not_media(data: bytes, label: str) -> InputError:
    looks = f"its content looks like {describe(data)}"
    if label == _BASE64:
        # A path-like string that happens to decode lands here, so speak to both readings.
        return InputError(f"{label} does not decode to an image or PDF ({looks}); if it is a path, it does not exist")
    if label == _DATA_URL:
        return InputError(f"{label} does not hold an image or PDF ({looks}); pass a {_ACCEPTED}")
    return InputError(f"{label} is not an image or PDF, whatever its name says ({looks}); pass a {_ACCEPTED} file")
