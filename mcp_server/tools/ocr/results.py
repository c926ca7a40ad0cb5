"""What `ocr` returns, made from the model's text: pages parsed into boxes, split into inline pages and parts, and
the content blocks with their notices."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from mcp.types import CallToolResult, ContentBlock, ResourceLink

from mcp_server.tools.common import block, notice_blocks
from mcp_server.tools.ocr.model import BoxOut, OcrOutput, PageOut
from mcp_server.tools.ocr.parts import URI, Split, split_pages


def page_out(
    number: int | None,
    raw: str,
    frame: tuple[int, int] | None,
    original: tuple[int, int] | None,
    boxes: bool,
    finish_reason: str | None,
) -> PageOut:
    """One page from the model's raw text: grounding markers parsed into boxes in `frame`'s pixels (0-999 without)."""
    from mcp_server.media import grounding  # with the first ocr answer, not at start-up

    parsed = grounding.parse(raw, *(frame or (None, None)))
    found = [BoxOut(label=b.label, text=b.text, bbox=b.bbox) for b in parsed.boxes] if boxes else []
    return PageOut(
        page=number,
        markdown=parsed.markdown,
        boxes=found,
        width=frame[0] if frame else None,
        height=frame[1] if frame else None,
        original_width=original[0] if original else None,
        original_height=original[1] if original else None,
        boxes_normalized=parsed.normalized,
        boxes_dropped=parsed.dropped if boxes else 0,
        finish_reason=finish_reason,
    )


def _where(page: PageOut) -> str:
    return f"page {page.page}" if page.page is not None else "the image"


def cut_notice(page: PageOut) -> str:
    return f"the text of {_where(page)} stopped at the output limit (finish_reason=length): it may be incomplete"


MAX_PAGE_NOTICES = 20


def page_notices(pages: list[PageOut]) -> list[str]:
    """Notices about single pages (cut at the output limit, boxes left out), at most MAX_PAGE_NOTICES of them."""
    found = [cut_notice(page) for page in pages if page.finish_reason == "length"]
    found += [f"{_where(p)}: {p.boxes_dropped} more layout boxes were left out" for p in pages if p.boxes_dropped]
    if len(found) > MAX_PAGE_NOTICES:
        found = [*found[:MAX_PAGE_NOTICES], f"and {len(found) - MAX_PAGE_NOTICES} more notices like these"]
    return found


def finish(out: OcrOutput, pages: Iterable[PageOut]) -> tuple[OcrOutput, Split]:
    """`pages` (made one at a time) split into those inline and parts, with notices about single pages; runs in a
    worker thread. Only the inline pages stay objects: the rest are kept as their JSON."""
    flagged: list[PageOut] = []

    def watched() -> Iterator[PageOut]:
        for page in pages:
            if page.finish_reason == "length" or page.boxes_dropped:
                flagged.append(page.model_copy(update={"boxes": [], "markdown": ""}))
            yield page

    split = split_pages(watched())
    out.pages = split.inline
    if split.clipped is not None:
        out.notices.append(
            f"{_where(split.inline[0])} is too long to show whole: its first {len(split.inline[0].markdown):,} "
            "characters are inline, without boxes; all of it, boxes included, is in part 1 (below)"
        )
    out.notices += page_notices(flagged)
    return out, split


def ocr_result(
    out: OcrOutput, numbered: bool, result: str | None = None, ranges: list[tuple[int, int]] | None = None
) -> CallToolResult:
    """The result: the inline pages' markdown as one document block (numbered pages for documents), a link to each
    part kept as a resource, notices after them."""
    if numbered:
        text = "\n\n".join(f"<!-- page {p.page} -->\n{p.markdown}" for p in out.pages)
    else:
        text = out.pages[0].markdown if out.pages else ""
    links: list[ContentBlock] = []
    if result is not None and ranges:
        out.parts_uri = URI.replace("{result}", result)
        out.parts = ranges
        links = [
            ResourceLink(
                type="resource_link",
                uri=out.parts_uri.format(part=n),
                name=f"ocr pages {first}-{last}",
                mime_type="application/json",
            )
            for n, (first, last) in enumerate(ranges[:MAX_LINKS], 1)
        ]
        out.notices.append(_parts_notice(out, ranges))
    content: list[ContentBlock] = [block(text, "document"), *links, *notice_blocks(out.notices)]
    return CallToolResult(content=content, structured_content=out.model_dump())


MAX_LINKS = 20


def _parts_notice(out: OcrOutput, ranges: list[tuple[int, int]]) -> str:
    shown = f"pages {out.pages[0].page}-{out.pages[-1].page} are inline" if out.pages else "no page is inline"
    more = f"; links to the first {MAX_LINKS} are above" if len(ranges) > MAX_LINKS else ""
    return (
        f"a long result: {shown}; pages {ranges[0][0]}-{ranges[-1][1]} are in {len(ranges)} parts, read each with "
        f"resources/read at {out.parts_uri} with {{part}} = 1 to {len(ranges)} (`parts` gives each part's pages"
        f"{more}); kept for an hour, for you only. A host that cannot read resources: call ocr again with `pages`"
    )
