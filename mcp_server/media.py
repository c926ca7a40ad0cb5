"""Turn what the `ocr` tool is given into image parts the provider accepts.

A source is a local path, an http(s) URL, a `data:` URL or raw base64. `open_source` reads it, sniffs the bytes
(never the name), and for a PDF counts the pages and checks the `pages` selection, so input errors surface before
the first upstream call (only a damaged page can still fail when rendered). The `Source` it returns renders one page
per `render(n)` call: the tool can keep a few pages in flight and report progress page by page. `load_source` is the
all-at-once form for callers that want a finished `Document`.

http(s) URLs are passed through: the server never fetches anything itself. A string is read as base64 when it uses
only the base64 alphabet, has a length divisible by four, decodes strictly and names no existing file; "/" cannot
mark it as a path, since every JPEG's base64 starts with "/9j/".

Images within the limits go upstream byte for byte; larger ones are downscaled (aspect kept) and re-encoded.
Images are prepared when the source is opened (there is only one part, so nothing to stream). PDF pages are
rasterised on demand. pdfium is not thread-safe, so each page is one worker-thread call under a process-wide lock,
and the document is re-opened from the in-memory bytes for every page instead of being held open: no pdfium handle
outlives a call, and a tool that stops early has nothing to close. Re-reading the cross-reference table is cheap
next to rasterising.

Pillow and pypdfium2 are imported inside the functions that use them, so starting the server costs nothing for them.
"""

from __future__ import annotations

import base64
import binascii
import codecs
import contextlib
import math
import re
import stat
import struct
import threading
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from io import BytesIO
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import urlsplit

import anyio.to_thread  # already loaded by the MCP SDK, so free at start-up

from mcp_server.errors import InputError

if TYPE_CHECKING:
    from PIL import Image

__all__ = [
    "Document",
    "ImagePart",
    "Limits",
    "Source",
    "load_source",
    "open_source",
    "parse_pages",
    "resize_note",
    "sniff",
]

Format = Literal["png", "jpeg", "webp", "gif", "pdf"]
ImageFormat = Literal["png", "jpeg", "webp", "gif"]

_MIME: dict[ImageFormat, str] = {"png": "image/png", "jpeg": "image/jpeg", "webp": "image/webp", "gif": "image/gif"}
_PIL_FORMAT: dict[ImageFormat, str] = {"png": "PNG", "jpeg": "JPEG", "webp": "WEBP", "gif": "GIF"}
_ACCEPTED = "PNG, JPEG, WebP, GIF or PDF"
_DATA_URL = "the data: URL"  # stands in for a file name in messages
_BASE64 = "the base64 source"
_MAX_URL_CHARS = 8192  # WIRE.md §2: the provider refuses longer image URLs
_MIN_BASE64_CHARS = 16  # shorter strings are far likelier to be file names than images
_MAX_ECHO = 200  # characters of a caller's argument quoted back in a message; the rest is elided
_BASE64_RE = re.compile(r"[A-Za-z0-9+/]+={0,2}")
_SCHEME_RE = re.compile(r"([A-Za-z][A-Za-z0-9+.-]+):")  # two letters or more, so "C:\scan.png" is a path
_JPEG_QUALITY = 90
_SHRINK_ATTEMPTS = 8
_PDFIUM_LOCK = threading.Lock()  # pdfium keeps global state and is not thread-safe

# Kinds named in refusals; the file's own bytes are never echoed, since a misnamed key must not leak into a reply.
_KNOWN_KINDS: tuple[tuple[bytes, str], ...] = (
    (b"PK\x03\x04", "a ZIP archive (.zip, .docx, .xlsx, ...)"),
    (b"\x7fELF", "an ELF executable"),
    (b"\x1f\x8b", "gzip-compressed data"),
    (b"-----BEGIN", "a PEM key or certificate"),
    (b"II*\x00", "a TIFF image"),
    (b"MM\x00*", "a TIFF image"),
    (b"BM", "a BMP image"),
)


@dataclass(frozen=True)
class Limits:
    """Size limits applied to every source; the defaults follow the provider's vision limits (WIRE.md §2)."""

    max_source_bytes: int = 32 * 1024 * 1024
    max_image_bytes: int = 8 * 1024 * 1024
    max_image_pixels: int = 1280 * 1280 * 4
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
class Document:
    """A fully rendered source."""

    kind: Literal["image", "pdf", "url"]
    pages: list[ImagePart]
    page_count: int
    notes: list[str]


@dataclass(frozen=True)
class Source:
    """An opened, validated source whose pages are rendered on request."""

    kind: Literal["image", "pdf", "url"]
    page_count: int
    page_numbers: list[int]  # the selected pages, sorted
    notes: list[str]
    _renderer: Callable[[int], Awaitable[ImagePart]] = field(repr=False, compare=False)

    async def render(self, page_number: int) -> ImagePart:
        """Render one page (1-based); safe to call concurrently, rasterising is serialised internally."""
        if not 1 <= page_number <= self.page_count:
            raise ValueError(f"page {page_number} is outside 1..{self.page_count}")
        return await self._renderer(page_number)

    async def parts(self) -> AsyncIterator[ImagePart]:
        """Render the selected pages one after another, in page order."""
        for number in self.page_numbers:
            yield await self.render(number)


def sniff(data: bytes) -> Format | None:
    """Name the format by its magic number, or None when it is not one the provider accepts."""
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


def parse_pages(spec: str | None, page_count: int, max_pages: int) -> list[int]:
    """Parse a 1-based page selection such as "1-3,7" or "5-"; None or blank selects every page."""
    if spec is None or not spec.strip():
        selected = list(range(1, page_count + 1))
        if len(selected) > max_pages:
            raise InputError(
                f"the document has {page_count} pages, more than the {max_pages} one call can take; "
                f'choose some with `pages`, e.g. pages="1-{max_pages}"'
            )
        return selected
    numbers: set[int] = set()
    shown = _clip(spec)
    for token in spec.split(","):
        first, last = _page_range(token.strip(), shown, page_count)
        numbers.update(range(first, last + 1))
    if len(numbers) > max_pages:
        raise InputError(f"pages {shown!r} selects {len(numbers)} pages; one call takes at most {max_pages}")
    return sorted(numbers)


def _page_range(token: str, spec: str, page_count: int) -> tuple[int, int]:
    match = re.fullmatch(r"(?P<first>\d+)\s*(?:(?P<dash>-)\s*(?P<last>\d*))?", token)
    if match is None:
        if re.fullmatch(r"-\s*\d+.*", token):
            raise InputError(f"invalid pages {spec!r}: pages are numbered from 1")
        raise InputError(f'invalid pages {spec!r}: use page numbers and ranges such as "1-3,7" or "5-"')
    first = int(match["first"])
    last = first if match["dash"] is None else int(match["last"] or page_count)  # "5-" runs to the end
    if first == 0 or last == 0:
        raise InputError(f"invalid pages {spec!r}: pages are numbered from 1")
    if first > page_count:
        raise _no_such_page(spec, first, page_count)
    if last < first:
        raise InputError(f"invalid pages {spec!r}: the range {first}-{last} is reversed; write {last}-{first}")
    if last > page_count:
        raise _no_such_page(spec, last, page_count)
    return first, last


def _no_such_page(spec: str, page: int, page_count: int) -> InputError:
    noun = "page" if page_count == 1 else "pages"
    return InputError(f"invalid pages {spec!r}: there is no page {page}; the document has {page_count} {noun}")


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


async def load_source(source: str, *, pages: str | None, limits: Limits, base_dir: Path) -> Document:
    """Open a source and render every selected page."""
    opened = await open_source(source, pages=pages, limits=limits, base_dir=base_dir)
    parts = [part async for part in opened.parts()]
    notes = list(opened.notes)
    if opened.kind == "pdf":
        notes += [note for part in parts if (note := resize_note(part)) is not None]
    return Document(kind=opened.kind, pages=parts, page_count=opened.page_count, notes=notes)


async def open_source(source: str, *, pages: str | None, limits: Limits, base_dir: Path) -> Source:
    """Read and validate a path, http(s) URL, data: URL or base64 string; raise InputError for anything unusable."""
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
            f"{_clip(scheme, 40)}: sources are not supported; pass only http(s) URLs, data: URLs, base64 or local paths"
        )
    else:
        data, label = await _read_path_or_base64(text, limits, base_dir)
    return await _open_bytes(data, label, pages, limits)


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
        raise _too_large(label, len(compact) // 4 * 3, limits.max_source_bytes)
    try:
        return base64.b64decode(compact, validate=True)
    except binascii.Error as e:
        raise InputError(f"{label} is not valid base64") from e


async def _read_path_or_base64(text: str, limits: Limits, base_dir: Path) -> tuple[bytes, str]:
    path = _resolve(text, base_dir)
    compact = re.sub(r"\s+", "", text)
    # "/" is a base64 digit (every JPEG's base64 starts "/9j/"), so only an existing file wins over base64.
    if _looks_like_base64(compact) and not await anyio.to_thread.run_sync(_exists, path):
        return _decode_base64(compact, _BASE64, limits), _BASE64
    data = await anyio.to_thread.run_sync(_read_file, path, limits.max_source_bytes)
    return data, _clip(str(path))


def _resolve(text: str, base_dir: Path) -> Path:
    path = Path(text)
    # "~someone" with no such user raises; keep it literal and let the existence check report it.
    with contextlib.suppress(RuntimeError):
        path = path.expanduser()
    return path if path.is_absolute() else base_dir / path


def _looks_like_base64(compact: str) -> bool:
    return len(compact) >= _MIN_BASE64_CHARS and len(compact) % 4 == 0 and _BASE64_RE.fullmatch(compact) is not None


def _exists(path: Path) -> bool:
    try:
        return path.exists()
    except (OSError, ValueError):  # over-long names and NUL characters raise instead of returning False
        return False


def _read_file(path: Path, limit: int) -> bytes:
    """Read a regular file of at most `limit` bytes (runs in a worker thread)."""
    _check_file(path, limit)
    name = _clip(str(path))
    try:
        data = _read_bytes(path, limit)
    except PermissionError as e:
        raise InputError(f"{name} cannot be read: permission denied; check its permissions") from e
    except OSError as e:
        raise InputError(f"{name} cannot be read ({e.strerror or type(e).__name__})") from e
    if not data:
        raise InputError(f"{name} is empty; pass an image or PDF with content")
    if len(data) > limit:  # it grew after the size check
        raise InputError(f"{name} is larger than the {_size(limit)} limit")
    return data


def _check_file(path: Path, limit: int) -> None:
    name = _clip(str(path))
    try:
        info = path.stat()
    except (FileNotFoundError, NotADirectoryError) as e:
        raise InputError(f"{name} does not exist; check the path") from e
    except ValueError as e:  # a NUL character, which no file name can contain
        raise InputError("the path contains a NUL character; pass a valid path") from e
    except PermissionError as e:
        raise InputError(f"{name} cannot be read: permission denied; check its permissions") from e
    except OSError as e:
        raise InputError(f"{name} cannot be read ({e.strerror or type(e).__name__})") from e
    if stat.S_ISDIR(info.st_mode):
        raise InputError(f"{name} is a directory; pass an image or PDF file")
    if not stat.S_ISREG(info.st_mode):
        raise InputError(f"{name} is not a regular file (a device, pipe or socket); pass an image or PDF file")
    if info.st_size == 0:
        raise InputError(f"{name} is empty; pass an image or PDF with content")
    if info.st_size > limit:
        raise _too_large(name, info.st_size, limit)


def _read_bytes(path: Path, limit: int) -> bytes:
    # One byte past the limit tells a file that grew since stat() from one that is exactly at it.
    with path.open("rb") as file:
        return file.read(limit + 1)


async def _open_bytes(data: bytes, label: str, pages: str | None, limits: Limits) -> Source:
    if not data:
        raise InputError(f"{label} is empty; pass an image or PDF with content")
    if len(data) > limits.max_source_bytes:
        raise _too_large(label, len(data), limits.max_source_bytes)
    kind = sniff(data)
    if kind is None:
        raise _not_media(data, label)
    if kind == "pdf":
        return await _open_pdf(data, label, pages, limits)
    numbers = parse_pages(pages, 1, limits.max_pages)
    part, notes = await anyio.to_thread.run_sync(_prepare_image, data, kind, limits, label)
    return Source("image", 1, numbers, notes, _ready(part))


def _not_media(data: bytes, label: str) -> InputError:
    looks = f"its content looks like {_describe(data)}"
    if label == _BASE64:
        # A path-like string that happens to decode lands here, so speak to both readings.
        return InputError(f"{label} does not decode to an image or PDF ({looks}); if it is a path, it does not exist")
    if label == _DATA_URL:
        return InputError(f"{label} does not hold an image or PDF ({looks}); pass a {_ACCEPTED}")
    return InputError(f"{label} is not an image or PDF, whatever its name says ({looks}); pass a {_ACCEPTED} file")


def _describe(data: bytes) -> str:
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


def _too_large(label: str, size: int, limit: int) -> InputError:
    shown, most = _size(size), _size(limit)
    if shown == most:  # one byte over reads as "32.0 MiB; the limit is 32.0 MiB" otherwise
        shown, most = f"{size:,} bytes", f"{limit:,} bytes ({most})"
    return InputError(f"{label} is {shown}; the limit is {most}")


def _clip(text: str, limit: int = _MAX_ECHO) -> str:
    """A caller's string as quoted in a message: whole when short, else its start and end around an ellipsis."""
    if len(text) <= limit:
        return text
    return f"{text[: limit // 2]}…{text[-(limit // 2) :]}"


def _size(size: int) -> str:
    if size >= 2**20:
        return f"{size / 2**20:.1f} MiB"
    return f"{size / 2**10:.1f} KiB" if size >= 2**10 else f"{size} bytes"


# --- images -------------------------------------------------------------------------------------------------------


def _prepare_image(data: bytes, kind: ImageFormat, limits: Limits, label: str) -> tuple[ImagePart, list[str]]:
    """Decode an image; pass it through unchanged if within limits, else shrink it (runs in a worker thread)."""
    from PIL import Image

    try:
        with Image.open(BytesIO(data), formats=[_PIL_FORMAT[kind]]) as img:
            width, height = img.size
            if len(data) > limits.max_image_bytes or width * height > limits.max_image_pixels:
                return _shrink_image(img, kind, limits)
            img.load()  # decode now so a truncated file fails here, with a clear message, not upstream
    except Image.DecompressionBombError as e:
        raise InputError(f"{label} has too many pixels to decode safely; scale it down before sending") from e
    except (OSError, ValueError, SyntaxError, EOFError, struct.error) as e:
        raise InputError(f"{label} looks like a {kind.upper()} image but cannot be decoded; it may be truncated") from e
    mime = _MIME[kind]
    part = ImagePart(
        url=_data_url(mime, data),
        mime=mime,
        width=width,
        height=height,
        original_width=width,
        original_height=height,
        resized=False,
        page=None,
        byte_size=len(data),
    )
    return part, []


def _shrink_image(img: Image.Image, kind: ImageFormat, limits: Limits) -> tuple[ImagePart, list[str]]:
    from PIL import ImageOps

    original = _upright_size(img)
    if kind == "jpeg":  # let libjpeg decode at a reduced scale instead of building the full bitmap
        img.draft("RGB", _fit_pixels(img.size, limits.max_image_pixels))
    # Re-encoding drops EXIF, so apply the orientation now or a phone photo arrives lying on its side.
    with ImageOps.exif_transpose(img) as upright:
        use_png = kind == "gif" or upright.mode in ("P", "PA") or _has_alpha(upright)
        with upright.convert(_target_mode(upright)) as flat:
            target = _fit_pixels(flat.size, limits.max_image_pixels)
            encoded, size = _encode_within(flat, target, use_png, limits.max_image_bytes)
    mime = "image/png" if use_png else "image/jpeg"
    part = ImagePart(
        url=_data_url(mime, encoded),
        mime=mime,
        width=size[0],
        height=size[1],
        original_width=original[0],
        original_height=original[1],
        resized=True,
        page=None,
        byte_size=len(encoded),
    )
    return part, _shrink_notes(part, getattr(img, "n_frames", 1))


def _shrink_notes(part: ImagePart, frames: int) -> list[str]:
    notes = [note] if (note := resize_note(part)) else []
    if frames > 1:
        notes.append(f"only the first of the GIF's {frames} frames was sent")
    return notes


def _upright_size(img: Image.Image) -> tuple[int, int]:
    # Orientations 5-8 are quarter turns: the image as displayed is the stored one with its sides swapped.
    width, height = img.size
    return (height, width) if img.getexif().get(0x0112) in (5, 6, 7, 8) else (width, height)


def _has_alpha(img: Image.Image) -> bool:
    return img.mode in ("RGBA", "LA", "RGBa", "La") or "transparency" in img.info


def _target_mode(img: Image.Image) -> str:
    if _has_alpha(img) or img.mode == "PA":
        return "RGBA"
    return "L" if img.mode in ("L", "1") else "RGB"


def _fit_pixels(size: tuple[int, int], max_pixels: int) -> tuple[int, int]:
    width, height = size
    if width * height <= max_pixels:
        return size
    scale = math.sqrt(max_pixels / (width * height))
    return max(1, math.floor(width * scale)), max(1, math.floor(height * scale))


def _encode_within(
    img: Image.Image, size: tuple[int, int], use_png: bool, max_bytes: int
) -> tuple[bytes, tuple[int, int]]:
    """Encode at `size`, stepping down until the bytes fit."""
    from PIL import Image

    for _ in range(_SHRINK_ATTEMPTS):
        if size == img.size:
            encoded = _encode(img, use_png)
        else:
            with img.resize(size, Image.Resampling.LANCZOS) as scaled:
                encoded = _encode(scaled, use_png)
        if len(encoded) <= max_bytes:
            return encoded, size
        # Encoded size grows roughly with the pixel count; aim a little under so one more step usually suffices.
        factor = 0.9 * math.sqrt(max_bytes / len(encoded))
        size = max(1, math.floor(size[0] * factor)), max(1, math.floor(size[1] * factor))
    raise InputError(f"the image could not be made smaller than {_size(max_bytes)}; crop or compress it first")


def _encode(img: Image.Image, use_png: bool) -> bytes:
    buffer = BytesIO()
    if use_png:
        img.save(buffer, "PNG")
    else:
        img.save(buffer, "JPEG", quality=_JPEG_QUALITY)
    return buffer.getvalue()


def _data_url(mime: str, data: bytes) -> str:
    return f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"


# --- PDFs ---------------------------------------------------------------------------------------------------------


async def _open_pdf(data: bytes, label: str, pages: str | None, limits: Limits) -> Source:
    page_count = await anyio.to_thread.run_sync(_count_pdf_pages, data, label)
    numbers = parse_pages(pages, page_count, limits.max_pages)

    async def render(page_number: int) -> ImagePart:
        return await anyio.to_thread.run_sync(_render_pdf_page, data, page_number, limits, label)

    return Source("pdf", page_count, numbers, [], render)


def _pdfium() -> Any:
    import pypdfium2  # type: ignore[import-untyped]  # ships no type information

    return pypdfium2


def _count_pdf_pages(data: bytes, label: str) -> int:
    pdfium = _pdfium()
    with _PDFIUM_LOCK:
        document = _open_document(pdfium, data, label)
        try:
            page_count: int = len(document)
        finally:
            document.close()
    if page_count == 0:
        raise InputError(f"{label} is a PDF without pages")
    return page_count


def _open_document(pdfium: Any, data: bytes, label: str) -> Any:
    try:
        return pdfium.PdfDocument(data)
    except pdfium.PdfiumError as e:
        if e.err_code == pdfium.raw.FPDF_ERR_PASSWORD:
            raise InputError(f"{label} is an encrypted PDF; remove its password (e.g. qpdf --decrypt) and retry") from e
        raise InputError(f"{label} is not a readable PDF; it may be damaged or truncated") from e


def _render_pdf_page(data: bytes, page_number: int, limits: Limits, label: str) -> ImagePart:
    """Rasterise one page to an RGB PNG within the limits (runs in a worker thread)."""
    img, full_size = _rasterise(data, page_number, limits, label)
    with img:
        # Rasterised to fit already; this only catches a pixel of rounding from the rendering scale.
        target = _fit_pixels(img.size, limits.max_image_pixels)
        encoded, size = _encode_within(img, target, True, limits.max_image_bytes)
    return ImagePart(
        url=_data_url("image/png", encoded),
        mime="image/png",
        width=size[0],
        height=size[1],
        original_width=full_size[0],
        original_height=full_size[1],
        resized=size != full_size,
        page=page_number,
        byte_size=len(encoded),
    )


def _rasterise(data: bytes, page_number: int, limits: Limits, label: str) -> tuple[Image.Image, tuple[int, int]]:
    pdfium = _pdfium()
    with _PDFIUM_LOCK:
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
