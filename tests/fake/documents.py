"""What the fake's OCR endpoint makes of an uploaded file, told by content as the real one does (WIRE.md §13).

Each page gets an identity the tests can check (a PDF page's size in points, an image's pixels and digest), and
Word and PowerPoint files their real text: `text_recognition` extracts it directly when they hold no images.
"""

from __future__ import annotations

import hashlib
import io
import re
import zipfile
from dataclasses import dataclass

_WORD_TEXT = re.compile(rb"<w:t(?:\s[^>]*)?>([^<]*)</w:t>")
_SLIDE_TEXT = re.compile(rb"<a:t>([^<]*)</a:t>")
_PAGE_BREAK = re.compile(rb'<w:br\s+w:type="page"\s*/>')
_SLIDE_NAME = re.compile(r"ppt/slides/slide(\d+)\.xml")
_IMAGES = {b"\x89PNG": "png", b"\xff\xd8\xff": "jpeg", b"GIF8": "gif", b"BM": "bmp", b"II*\x00": "tiff"}


class Unsupported(Exception):
    """Not a file the endpoint reads; the message is the 400's."""


@dataclass(frozen=True)
class Page:
    ident: str  # what the fake's answer names the page by
    text: str | None  # the page's own text (Office files), None when only recognition can read it


@dataclass(frozen=True)
class Uploaded:
    kind: str  # "pdf", "docx", "pptx", "png", ...
    pages: list[Page]
    has_images: bool


def recognise(data: bytes) -> Uploaded:
    if data.startswith(b"%PDF-") or b"%PDF-" in data[:1024]:
        return _pdf(data)
    if data.startswith(b"PK\x03\x04"):
        return _office(data)
    kind = next((name for magic, name in _IMAGES.items() if data.startswith(magic)), None)
    if kind is None and data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        kind = "webp"
    if kind is None:
        raise Unsupported("Unsupported file type: the file is not a PDF, Word, PowerPoint or image file")
    return Uploaded(kind, [Page(_image_ident(data), None)], True)


def _pdf(data: bytes) -> Uploaded:
    import pypdfium2  # type: ignore[import-untyped]

    try:
        document = pypdfium2.PdfDocument(data)
    except pypdfium2.PdfiumError as exc:
        raise Unsupported("The PDF file could not be parsed") from exc
    try:
        sizes = [document.get_page_size(i) for i in range(len(document))]
    finally:
        document.close()
    pages = [Page(f"page {n} of {len(sizes)}, {w:g}x{h:g} pt", None) for n, (w, h) in enumerate(sizes, 1)]
    return Uploaded("pdf", pages, True)


def _office(data: bytes) -> Uploaded:
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except zipfile.BadZipFile as exc:
        raise Unsupported("Unsupported file type: a damaged ZIP file") from exc
    with archive:
        names = archive.namelist()
        if "[Content_Types].xml" not in names:
            raise Unsupported("Unsupported file type: a ZIP file that is not a Word or PowerPoint document")
        if "word/document.xml" in names:
            body = archive.read("word/document.xml")
            texts = [_joined(_WORD_TEXT, part) for part in _PAGE_BREAK.split(body)]
            return Uploaded("docx", _office_pages("docx", texts), any(n.startswith("word/media/") for n in names))
        slides = sorted((int(m.group(1)), n) for n in names if (m := _SLIDE_NAME.fullmatch(n)))
        if slides:
            texts = [_joined(_SLIDE_TEXT, archive.read(name)) for _, name in slides]
            return Uploaded("pptx", _office_pages("pptx", texts), any(n.startswith("ppt/media/") for n in names))
    raise Unsupported("Unsupported file type: an Office file other than Word or PowerPoint")


def _office_pages(kind: str, texts: list[str]) -> list[Page]:
    return [Page(f"{kind} page {n} of {len(texts)}", text) for n, text in enumerate(texts, 1)]


def _joined(pattern: re.Pattern[bytes], xml: bytes) -> str:
    return " ".join(m.group(1).decode() for m in pattern.finditer(xml))


def _image_ident(data: bytes) -> str:
    from PIL import Image

    try:
        with Image.open(io.BytesIO(data)) as image:
            width, height = image.size
    except (OSError, Image.DecompressionBombError) as exc:
        raise Unsupported("The image file could not be decoded") from exc
    return f"image {width}x{height} sha={hashlib.sha256(data).hexdigest()[:12]}"
