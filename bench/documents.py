"""Documents the benchmarks OCR, written here by hand so that no file is checked in and no library is needed:
PDF pages of text in Helvetica (a built-in font, nothing embedded) with a bar chart drawn in vector strokes."""

from __future__ import annotations

import random

_TEXT = (
    "the server reads every page at the rate the provider allows while memory stays bounded by the pipeline "
    "depth and not by the document tables figures headings lists equations captions footnotes references appendix"
)
_WORDS = _TEXT.split()


def text_pdf(pages: int, *, seed: int = 7, width: float = 612, height: float = 792) -> bytes:
    """A `pages`-page letter-size PDF: a heading, 30 lines of text and a bar chart per page."""
    rng = random.Random(seed)
    objects: list[bytes] = [b"<< /Type /Catalog /Pages 2 0 R >>", b""]  # the page tree is filled in below
    font = 3
    objects.append(b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>")
    kids = []
    for number in range(1, pages + 1):
        stream = _page_stream(number, rng, width, height)
        objects.append(b"<< /Length %d >>\nstream\n%s\nendstream" % (len(stream), stream))
        content = len(objects)
        objects.append(
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 %g %g] /Resources << /Font << /F1 %d 0 R >> >> "
            b"/Contents %d 0 R >>" % (width, height, font, content)
        )
        kids.append(len(objects))
    objects[1] = b"<< /Type /Pages /Kids [%s] /Count %d >>" % (b" ".join(b"%d 0 R" % k for k in kids), pages)
    return _assemble(objects)


def _page_stream(number: int, rng: random.Random, width: float, height: float) -> bytes:
    lines = [b"BT /F1 18 Tf 72 %g Td (Chapter %d: results) Tj ET" % (height - 72, number)]
    for row in range(30):
        words = " ".join(rng.choice(_WORDS) for _ in range(12))
        lines.append(b"BT /F1 10 Tf 72 %g Td (%s) Tj ET" % (height - 100 - row * 12, words.encode()))
    for bar in range(8):  # the figure: eight bars and an axis
        value = rng.randint(20, 150)
        lines.append(b"0.2 0.4 0.8 rg %g %g 30 %d re f" % (90 + bar * 50, 90, value))
    lines.append(b"0 0 0 RG 1 w 80 85 m 500 85 l S 80 85 m 80 260 l S")
    return b"\n".join(lines)


def _assemble(objects: list[bytes]) -> bytes:
    out, offsets = bytearray(b"%PDF-1.7\n"), []
    for number, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return bytes(out)
