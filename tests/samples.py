"""Images and PDFs made in the tests: Pillow draws them, so no sample files are checked in."""

from __future__ import annotations

import hashlib
import zipfile
from io import BytesIO

from PIL import Image, ImageDraw


def drawn(size: tuple[int, int], mode: str = "RGB", text: str = "Hello OCR") -> Image.Image:
    img = Image.new(mode, size, "white")
    ImageDraw.Draw(img).text((5, 5), text, fill="black")
    return img


def encode(img: Image.Image, fmt: str, **params: object) -> bytes:
    buffer = BytesIO()
    with img:
        img.save(buffer, fmt, **params)
    return buffer.getvalue()


def png(size: tuple[int, int] = (120, 60), mode: str = "RGB") -> bytes:
    return encode(drawn(size, mode), "PNG")


def pdf(*heights: int, width: int = 72) -> bytes:
    """A PDF with one page per height; at resolution 72 one pixel is one point, so a page is `width` pt wide."""
    pages = [drawn((width, height), text=str(n)) for n, height in enumerate(heights, 1)]
    buffer = BytesIO()
    pages[0].save(buffer, "PDF", resolution=72, save_all=True, append_images=pages[1:])
    for page in pages:
        page.close()
    return buffer.getvalue()


# Neither Pillow nor pypdfium2 writes encrypted PDFs, so this builds one with the standard security handler
# (revision 2, 40-bit RC4, PDF 1.7 §7.6.3). A page without content streams needs no encrypted strings.
_PAD = bytes.fromhex("28BF4E5E4E758A4164004E56FFFA01082E2E00B6D0683E802F0CA9FE6453697A")


def _rc4(key: bytes, data: bytes) -> bytes:
    state, j = list(range(256)), 0
    for i in range(256):
        j = (j + state[i] + key[i % len(key)]) % 256
        state[i], state[j] = state[j], state[i]
    out, i, j = bytearray(), 0, 0
    for byte in data:
        i = (i + 1) % 256
        j = (j + state[i]) % 256
        state[i], state[j] = state[j], state[i]
        out.append(byte ^ state[(state[i] + state[j]) % 256])
    return bytes(out)


def encrypted_pdf(user_password: bytes, owner_password: bytes = b"owner") -> bytes:
    file_id, permissions = b"0123456789abcdef", -4
    owner = _rc4(
        hashlib.md5((owner_password + _PAD)[:32], usedforsecurity=False).digest()[:5], (user_password + _PAD)[:32]
    )
    seed = (user_password + _PAD)[:32] + owner + permissions.to_bytes(4, "little", signed=True) + file_id
    user = _rc4(hashlib.md5(seed, usedforsecurity=False).digest()[:5], _PAD)
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 72 72] >>",
        b"<< /Filter /Standard /V 1 /R 2 /O <%s> /U <%s> /P %d >>" % (owner.hex().encode(), user.hex().encode(), -4),
    ]
    out, offsets = bytearray(b"%PDF-1.4\n"), []
    for number, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    xref = len(out)
    out += b"xref\n0 5\n0000000000 65535 f \n" + b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    ids = file_id.hex().encode()
    out += b"trailer\n<< /Size 5 /Root 1 0 R /Encrypt 4 0 R /ID [<%s> <%s>] >>\n" % (ids, ids)
    out += b"startxref\n%d\n%%%%EOF\n" % xref
    return bytes(out)


def blank_pdf(width: float, height: float, pages: int = 1) -> bytes:
    """A PDF of empty pages of `width` x `height` points, made without rasterising anything (so a 200-inch page
    costs the test nothing to build)."""
    import pypdfium2  # type: ignore[import-untyped]  # ships no type information

    document = pypdfium2.PdfDocument.new()
    try:
        for _ in range(pages):
            document.new_page(width, height).close()
        buffer = BytesIO()
        document.save(buffer)
    finally:
        document.close()
    return buffer.getvalue()


def heavy_pdf(pages: int, rects: int = 1_000_000, only: frozenset[int] | None = None) -> bytes:
    """Pages that take pdfium seconds to rasterise: each draws `rects` tiny filled rectangles (a hostile or merely
    dense vector drawing; a million need about 400 MB to render). About 20 bytes a rectangle; the content stream is
    shared by every page, or only by the pages numbered in `only` (the others are empty)."""
    ops = b"\n".join(b"%d %d 0.3 0.3 re f" % (i % 600, (i // 600) % 790) for i in range(rects))
    page_ids = [3 + n for n in range(pages)]
    content = 3 + pages
    objects = [b"<< /Type /Catalog /Pages 2 0 R >>"]
    objects.append(b"<< /Type /Pages /Kids [%s] /Count %d >>" % (b" ".join(b"%d 0 R" % i for i in page_ids), pages))
    objects += [
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents %d 0 R >>"
        % (content if only is None or n in only else content + 1)
        for n in range(1, pages + 1)
    ]
    objects.append(b"<< /Length %d >>\nstream\n%s\nendstream" % (len(ops), ops))
    objects.append(b"<< /Length 0 >>\nstream\n\nendstream")
    out, offsets = bytearray(b"%PDF-1.7\n"), []
    for number, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return bytes(out)


def slow_pdf(fills: int = 40_000) -> bytes:
    """One page that takes pdfium about 1.7 ms a fill to rasterise at 144 dpi (40,000: over a minute of CPU), in a
    file of 20 bytes a fill: each fill covers the whole page."""
    ops = b"\n".join(b"%d 0 612 792 re f" % (i % 3) for i in range(fills))
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R >>",
        b"<< /Length %d >>\nstream\n%s\nendstream" % (len(ops), ops),
    ]
    out, offsets = bytearray(b"%PDF-1.7\n"), []
    for number, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return bytes(out)


# Word and PowerPoint files, as zipfile writes them: the parts an OOXML reader (and the OCR API) looks for, no more.
_CONTENT_TYPES = (
    b'<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/'
    b'content-types"><Default Extension="xml" ContentType="application/xml"/></Types>'
)
_WORD = b'<w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"><w:body>%s</w:body></w:document>'
_SLIDE = b'<p:sld xmlns:a="http://schemas.openxmlformats.org/drawingml/2006/main"><a:t>%s</a:t></p:sld>'


def _zipped(parts: dict[str, bytes]) -> bytes:
    buffer = BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in parts.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def docx(*pages: str, image: bool = False) -> bytes:
    """A Word document with one page per text (separated by page breaks), optionally holding an image."""
    breaks = b'<w:p><w:r><w:br w:type="page"/></w:r></w:p>'
    body = breaks.join(b"<w:p><w:r><w:t>%s</w:t></w:r></w:p>" % page.encode() for page in pages)
    parts = {"[Content_Types].xml": _CONTENT_TYPES, "word/document.xml": _WORD % body}
    if image:
        parts["word/media/image1.png"] = png((20, 10))
    return _zipped(parts)


def pptx(*slides: str) -> bytes:
    parts = {"[Content_Types].xml": _CONTENT_TYPES}
    parts |= {f"ppt/slides/slide{n}.xml": _SLIDE % text.encode() for n, text in enumerate(slides, 1)}
    return _zipped(parts)


def xlsx() -> bytes:
    """A spreadsheet: OOXML too, but neither Word nor PowerPoint."""
    return _zipped({"[Content_Types].xml": _CONTENT_TYPES, "xl/workbook.xml": b"<workbook/>"})
