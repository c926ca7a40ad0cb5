"""The patch, made from the copy, and what is proved about it before the assistant sees it: that it applies to the
user's current files (in-process, as `git apply --check` would, no fuzz), that each changed file parses, and the
last check's outcome."""

from __future__ import annotations

from dataclasses import dataclass, field

from mcp_server.agent.workspace import Refused, Workspace
from mcp_server.context.model import Skip
from mcp_server.context.read import read_bytes
from mcp_server.core.quoting import format_size

from .check import CheckRun
from .edits import Editor
from .parsers import Parsed, parse
from .patch import Change, FilePatch, Rejected, apply, unified
from .patch import parse as parse_patch

MAX_PATCH_BYTES = 4 * 2**20  # a patch past this is not returned (the change is too large to read or apply by hand)


@dataclass(frozen=True)
class FileSummary:
    path: str
    status: str  # "modified", "added" or "deleted"
    added: int  # lines
    removed: int


@dataclass
class Verification:
    patch: str
    files: list[FileSummary]
    applies: bool
    applies_detail: str
    parses: list[Parsed]
    check: CheckRun | None
    notes: list[str] = field(default_factory=list)


def read_current(workspace: Workspace, label: str) -> bytes | None:
    """A file's bytes through the policy's reader; None when it does not exist, Refused when it may not be read."""
    try:
        found = workspace.file(label)
    except Refused as e:
        if "does not exist" in str(e):
            return None
        raise
    data = read_bytes(found, workspace.job())
    if isinstance(data, Skip):
        raise Refused(f"{label} is refused: {data.reason}")
    return data


def changes_of(editor: Editor, copy: Workspace) -> tuple[list[Change], list[str]]:
    """Each file the model changed, before (as copied) and after (as the copy holds it now); what could not be
    carried is named in the notes, a file holding a secret among them."""
    changes: list[Change] = []
    notes: list[str] = []
    for label, before in sorted(editor.originals.items()):
        try:
            after = read_current(copy, label)
            text = None if after is None else after.decode("utf-8")
        except (Refused, UnicodeDecodeError) as e:
            notes.append(f"{label} was left out of the patch: {e if isinstance(e, Refused) else 'no longer text'}.")
            continue
        if after == before:
            continue
        finding = None if after is None else copy.scanner.find_bytes(after)
        if finding is not None:  # written by the check, not the model (whose text is scanned): the patch is sent too
            notes.append(f"{label} was left out of the patch: {finding.reason}; its content is never sent.")
            continue
        old = None if before is None else before.decode("utf-8")
        changes.append(Change(label, old, text, label in editor.executable))
    return changes, notes


def verify(changes: list[Change], user: Workspace, check: CheckRun | None, notes: list[str]) -> Verification:
    """The patch of `changes` and its verification against the user's folder (blocking: reads files)."""
    patch = unified(changes)
    files = [_summary(part) for part in parse_patch(patch)]
    parses = [parse(c.path, c.after) for c in changes if c.after is not None]
    if len(patch.encode()) > MAX_PATCH_BYTES:
        size = format_size(len(patch.encode()))
        notes.append(f"The patch is {size}, past the {format_size(MAX_PATCH_BYTES)} a result carries; ask for less.")
        return Verification("", files, False, "the patch is too large to return", parses, check, notes)
    applies, detail = _applies(patch, user)
    return Verification(patch, files, applies, detail, parses, check, notes)


def _applies(patch: str, user: Workspace) -> tuple[bool, str]:
    if not patch:
        return True, "no change"
    for part in parse_patch(patch):
        try:
            current = read_current(user, part.path)
            apply(part, None if current is None else current.decode("utf-8"))
        except (Refused, Rejected) as e:
            return False, str(e)
        except UnicodeDecodeError:
            return False, f"{part.path} in your folder is no longer UTF-8 text"
    return True, "applies to your current files"


def _summary(part: FilePatch) -> FileSummary:
    lines = [line[0] for hunk in part.hunks for line in hunk.lines]
    status = "added" if part.added else "deleted" if part.deleted else "modified"
    return FileSummary(part.path, status, lines.count("+"), lines.count("-"))
