"""The `pages` selection: 1-based numbers and ranges such as "1-3,7" or "5-"."""

from __future__ import annotations

import re

from mcp_server.core.errors import InputError
from mcp_server.media.messages import clip

_MAX_SPEC = 200


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
    shown = clip(spec)
    if len(spec) > _MAX_SPEC:
        raise InputError(
            f'pages {shown!r} is {len(spec):,} characters long (at most {_MAX_SPEC}); write ranges, e.g. "1-3,7"'
        )
    for token in spec.split(","):
        first, last = _page_range(token.strip(), shown, page_count)
        numbers.update(range(first, last + 1))
    if len(numbers) > max_pages:
        raise InputError(f"pages {shown!r} selects {len(numbers)} pages; one call takes at most {max_pages}")
    return sorted(numbers)


def _page_range(token: str, spec: str, page_count: int) -> tuple[int, int]:
    match = re.fullmatch(r"(?P<first>\d{1,7})\s*(?:(?P<dash>-)\s*(?P<last>\d{0,7}))?", token)
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
