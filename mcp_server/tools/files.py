"""`files` on chat and reason, as the tools see it: the gathering job for a call, and what the result reports."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import BaseModel

from mcp_server.core.errors import InputError
from mcp_server.serving.app import AppContext

if TYPE_CHECKING:
    from mcp_server.context import Gathered, Job

MAX_LISTED = 200  # skipped entries in the structured result; the rest are counted
NOTICE_LISTED = 8  # skipped entries named in the notice


class FileOut(BaseModel):
    path: str
    bytes: int
    tokens: int  # estimated


class SkippedOut(BaseModel):
    path: str
    reason: str


def job_for(app: AppContext) -> Job:
    """What one call may read, from the server's settings; relative paths start at the working directory."""
    from mcp_server.context import Job  # with the first call that reads files: the scanner's rules compile then
    from mcp_server.policy import Scanner, home, secret_places

    try:
        base_dir = Path.cwd()
    except OSError as e:
        raise InputError("the server's working directory no longer exists; pass absolute paths") from e
    limits = app.settings.limits
    return Job(
        base_dir=base_dir,
        files=app.files,
        limits=limits,
        budget=limits.max_context_tokens,
        scanner=Scanner.of(app.settings.secrets),
        places=secret_places(home()),
    )


def files_out(gathered: Gathered | None) -> list[FileOut]:
    if gathered is None:
        return []
    return [FileOut(path=f.path, bytes=f.bytes, tokens=f.tokens) for f in gathered.sent]


def skipped_out(gathered: Gathered | None) -> list[SkippedOut]:
    if gathered is None:
        return []
    listed = [SkippedOut(path=s.path, reason=s.reason) for s in gathered.skipped[:MAX_LISTED]]
    if len(gathered.skipped) > MAX_LISTED:
        listed.append(SkippedOut(path="…", reason=f"{len(gathered.skipped) - MAX_LISTED:,} more skipped, not listed"))
    return listed


def files_notice(gathered: Gathered | None) -> str | None:
    """One line for the assistant: how much went ahead of the prompt, and what was left out."""
    if gathered is None:
        return None
    sent = f"Sent {len(gathered.sent):,} file(s), ~{gathered.tokens:,} tokens, ahead of the prompt."
    if not gathered.skipped:
        return sent
    named = "; ".join(f"{s.path} ({s.reason})" for s in gathered.skipped[:NOTICE_LISTED])
    more = len(gathered.skipped) - NOTICE_LISTED
    tail = f"; and {more:,} more (see skipped)" if more > 0 else ""
    return f"{sent} Skipped {len(gathered.skipped):,}: {named}{tail}."
