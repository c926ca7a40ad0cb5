"""The change within its bounds: the diff's bytes and lines, and the whole within the token budget (the code around
the hunks is left out first, largest file first: those files keep their plain diff); and the notices saying what the
reviewer did not see."""

from __future__ import annotations

from dataclasses import replace

from mcp_server.context.model import Job, Skip
from mcp_server.core.errors import InputError
from mcp_server.core.quoting import format_size
from mcp_server.review.model import Change
from mcp_server.review.render import block_of, part
from mcp_server.spending.tokens import estimate_size, size_of


def bounded(change: Change, job: Job) -> Change:
    """The diff within its line bound, and the whole within the token budget: the code around hunks goes first."""
    lines = sum(f.patch.count("\n") for f in change.files)
    if lines > job.limits.review_diff_lines:
        raise InputError(
            f"the diff has {lines:,} lines, over the {job.limits.review_diff_lines:,} one review sends; pass a "
            "narrower base (a shorter range) or review a smaller change"
        )
    diff_bytes = sum(len(f.patch.encode()) for f in change.files)
    if diff_bytes > job.limits.review_diff_bytes:
        raise InputError(
            f"the diff comes to {format_size(diff_bytes)}, over the {format_size(job.limits.review_diff_bytes)} one "
            "review sends; pass a narrower base (a shorter range) or review a smaller change"
        )
    files, skipped = list(change.files), list(change.skipped)
    parts = [part(file) for file in files]
    block, tokens = block_of(change, parts)
    if tokens > job.budget:
        # The largest file's code around its hunks goes first, then the next: each file's part is rendered once,
        # and the estimate follows the parts that change (rendering the whole block again for each file dropped
        # was quadratic: 44 s for 300 files).
        chars, utf8 = size_of(block)
        for index in sorted((i for i, f in enumerate(files) if f.text), key=lambda i: -len(files[i].text or "")):
            if estimate_size(chars, utf8) <= job.budget:
                break
            plain = replace(files[index], text=None)
            reason = f"the code around its hunks not sent: the change is over the {job.budget:,}-token budget"
            skipped.append(Skip(plain.path, reason))
            now = part(plain)
            (was_chars, was_utf8), (now_chars, now_utf8) = size_of(parts[index]), size_of(now)
            chars, utf8 = chars - was_chars + now_chars, utf8 - was_utf8 + now_utf8
            files[index], parts[index] = plain, now
        block, tokens = block_of(replace(change, files=tuple(files)), parts)
    if tokens > job.budget:
        raise InputError(
            f"the diff alone comes to about {tokens:,} tokens, over the {job.budget:,} this server sends; pass a "
            "narrower base or review a smaller change"
        )
    skipped.sort(key=lambda s: s.path)
    notices = _notices(skipped)
    return replace(
        change,
        files=tuple(files),
        skipped=tuple(skipped),
        block=block,
        tokens=tokens,
        diff_bytes=diff_bytes,
        notices=notices,
    )


def _notices(skipped: list[Skip]) -> tuple[str, ...]:
    """What the assistant should hear about what the reviewer did not see."""
    notices: list[str] = []
    secret = sorted({s.path for s in skipped if s.secret})
    if secret:
        named = ", ".join(secret[:8]) + (f" and {len(secret) - 8} more" if len(secret) > 8 else "")
        notices.append(f"Withheld as secrets, never sent: {named} (see skipped); the review did not cover them.")
    notices += [f"Not reviewed: {s.reason}." for s in skipped if s.path == "…"]
    budget = [s.path for s in skipped if "token budget" in s.reason]
    if budget:
        notices.append(f"{len(budget)} files sent as their plain diff to fit the token budget (see skipped).")
    return tuple(notices)
