"""Split DeepSeek-OCR's grounded output into clean markdown and boxes in page pixels.

The model marks each block with a label and rectangles normalised to 0-999 (WIRE.md §11):

    <|ref|>title<|/ref|><|det|>[[115, 165, 465, 201]]<|/det|>
    # Heading

DeepSeek's OCR API writes the rectangles between `<|box|>` tokens instead of `<|det|>` (its guide's example); both
are read the same way.

Servers that decode with `skip_special_tokens=true` drop the `<|...|>` tokens and leave `title[[115, 165, 465, 201]]`.
That bare form is accepted only as a whole line of label plus well-formed rectangles, so `[[1, 2]]` in prose or a
table is left alone. Parsing never raises: a malformed rectangle is dropped and its text kept.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

__all__ = ["Box", "Parsed", "parse"]

_SCALE = 999  # the model's coordinates run from 0 to 999 whatever the image size
MAX_BOXES = 2000  # per page: a real page has tens; a repetition loop can write hundreds of thousands
_MAX_LABEL = 200

_RECT = r"\[\s*\d+\s*,\s*\d+\s*,\s*\d+\s*,\s*\d+\s*\]"
# The label may not contain another ref token, or an orphan <|ref|> would swallow text up to the next real box.
# Every repeated part below stops at the next ref token or `<`, so an unclosed token costs a scan to the next one,
# never to the end of the text: parsing stays linear on the long garbage of an OCR repetition loop.
_NOT_REF = r"(?:[^<]|<(?!\|/?ref\|>))"
_DET = r"<\|(?P<tag_kind>det|box)\|>(?P<tag_det>[^<]*)<\|/(?P=tag_kind)\|>"
_TAGGED = rf"<\|ref\|>(?P<tag_label>{_NOT_REF}*)<\|/ref\|>\s*{_DET}"
_BARE = rf"^[ \t]*(?P<bare_label>\w[\w \-]{{0,79}})\[(?P<bare_det>{_RECT}(?:\s*,\s*{_RECT})*)\][ \t]*$"
_GROUNDING = re.compile(rf"(?s:{_TAGGED})|(?m:{_BARE})")
_RECT_BODY = re.compile(r"\[([^\[\]]*)\]")
_INT = re.compile(r"-?\d+")
# Markup that lost its partner: a ref without a det is a label, not content, so its text goes too.
_ORPHANS = re.compile(rf"<\|ref\|>{_NOT_REF}*?<\|/ref\|>|<\|(det|box)\|>[^<]*<\|/\1\|>")
# DeepSeek writes some special tokens with full-width bars (U+FF5C), e.g. its end-of-sentence token.
_SPECIAL_TOKEN = re.compile(r"<[|\uff5c][^<>|\uff5c\n]{1,40}[|\uff5c]>|<image>")
_BLANK_RUN = re.compile(r"\n(?:[ \t]*\n){2,}")


@dataclass(frozen=True)
class Box:
    """One grounded rectangle and the text the model wrote for it."""

    label: str  # "title", "text", "table", "image", ... or the target text of a locate prompt
    text: str  # content following the box up to the next one, stripped; "" if none
    bbox: tuple[int, int, int, int]  # x1, y1, x2, y2 in page pixels, or 0-999 when `Parsed.normalized`


@dataclass(frozen=True)
class Parsed:
    """Model output with its grounding markup taken out."""

    markdown: str
    boxes: list[Box]
    normalized: bool  # True when the page size was unknown and boxes keep the model's 0-999 coordinates
    dropped: int = 0  # boxes past MAX_BOXES, left out


def parse(raw: str, width: int | None, height: int | None) -> Parsed:
    """Parse raw DeepSeek-OCR output; `width`/`height` are the pixels of the image sent, None if unknown."""
    size = None if width is None or height is None else (width, height)
    matches = list(_GROUNDING.finditer(raw))
    pieces = [raw[: matches[0].start()] if matches else raw]
    boxes: list[Box] = []
    dropped = 0
    for index, match in enumerate(matches):
        end = matches[index + 1].start() if index + 1 < len(matches) else len(raw)
        following = raw[match.end() : end]
        pieces.append(following)
        label = match["tag_label"] if match["tag_label"] is not None else match["bare_label"]
        det = match["tag_det"] if match["tag_det"] is not None else match["bare_det"]
        if len(boxes) >= MAX_BOXES:
            dropped += sum(1 for _ in _rects(det))
            continue
        text = _clean(following).strip()
        boxes += [Box(label.strip()[:_MAX_LABEL], text, _scaled(rect, size)) for rect in _rects(det)]
    markdown = _BLANK_RUN.sub("\n\n", _clean("".join(pieces))).strip()
    dropped += max(len(boxes) - MAX_BOXES, 0)
    return Parsed(markdown=markdown, boxes=boxes[:MAX_BOXES], normalized=size is None, dropped=dropped)


def _clean(text: str) -> str:
    return _SPECIAL_TOKEN.sub("", _ORPHANS.sub("", text))


def _rects(det: str) -> Iterator[tuple[int, int, int, int]]:
    """Yield each well-formed [x1, y1, x2, y2]; anything else is skipped."""
    for body in _RECT_BODY.finditer(det):
        fields = [field.strip() for field in body[1].split(",")]
        if len(fields) == 4 and all(_INT.fullmatch(field) for field in fields):
            x1, y1, x2, y2 = (int(field) for field in fields)
            yield min(x1, x2), min(y1, y2), max(x1, x2), max(y1, y2)


def _scaled(rect: tuple[int, int, int, int], size: tuple[int, int] | None) -> tuple[int, int, int, int]:
    x1, y1, x2, y2 = rect
    if size is None:
        return _clamp(x1, _SCALE), _clamp(y1, _SCALE), _clamp(x2, _SCALE), _clamp(y2, _SCALE)
    width, height = size
    return _pixel(x1, width), _pixel(y1, height), _pixel(x2, width), _pixel(y2, height)


def _pixel(value: int, extent: int) -> int:
    return _clamp(round(value / _SCALE * extent), extent)


def _clamp(value: int, upper: int) -> int:
    return max(0, min(value, upper))
