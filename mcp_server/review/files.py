"""Each changed path on its way to the reviewer: named through the policy, sized, its diff cut out, its whole text
read through the same reader as `files`, and summarised in one line when it is not sent."""

from __future__ import annotations

import os
import stat
from collections.abc import Sequence
from dataclasses import dataclass, replace

import anyio.to_thread

from mcp_server.context.model import Found, Job, Skip
from mcp_server.context.read import decode, read_text
from mcp_server.policy import names
from mcp_server.quoting import format_size
from mcp_server.review import diff
from mcp_server.review.git import Git
from mcp_server.review.model import ChangedFile, Entry, Sides
from mcp_server.review.render import untracked_patch

_SUBMODULE = "160000"
_ZERO = frozenset("0")


@dataclass
class Item:
    """A changed path on its way: the entry, and what is known of it so far."""

    entry: Entry
    summary: str = ""
    section: str = ""
    size: int = 0


def classify(listed: list[Entry], job: Job) -> tuple[list[Item], list[Skip]]:
    """Each path through the policy's names: secrets left out, generated and vendored files summarised."""
    items: list[Item] = []
    skipped: list[Skip] = []
    for index, entry in enumerate(listed):
        if index == job.limits.review_files:
            rest = len(listed) - index
            skipped.append(Skip("…", f"{rest:,} more changed files past the {index:,}-file bound, not reviewed"))
            break
        reason = _secret(entry)
        if reason is not None:
            skipped.append(Skip(entry.path, reason, True))
        elif not _text_path(entry.path):
            skipped.append(Skip(entry.path, "its name is not UTF-8"))
        else:
            items.append(Item(entry, _summary_by_name(entry)))
    return items, skipped


def _secret(entry: Entry) -> str | None:
    for path in entry.paths:
        parts = path.split("/")
        if any(part in names.SECRET_DIRS for part in parts[:-1]):
            return "in a folder of keys or credentials (not sent)"
        if names.secret_name(parts[-1]):
            return "named like a file of keys or credentials (not sent)"
    return None


def _summary_by_name(entry: Entry) -> str:
    if _SUBMODULE in (entry.old_mode, entry.new_mode):
        return f"a submodule: {entry.old_id[:10]} -> {entry.new_id[:10]}"
    parts = entry.path.split("/")
    if any(names.skipped_dir(part) for part in parts[:-1]):
        return "in a vendored, generated or tool folder (diff not sent)"
    if names.generated_name(parts[-1]):
        return "a lock file or generated file (diff not sent)"
    return ""


async def sizes(git: Git, top: str, chosen: Sides, items: list[Item], job: Job) -> None:
    """The size of each side; a side past the per-file cap makes the file a summary."""
    ids = {i for item in items if not item.summary for i in (item.entry.old_id, item.entry.new_id) if set(i) - _ZERO}
    known = await _object_sizes(git, sorted(ids))
    cap = job.limits.context_file_bytes
    for item in items:
        if item.summary:
            continue
        entry = item.entry
        size = known.get(entry.new_id) if set(entry.new_id) - _ZERO else _disk_size(top, entry)
        item.size = size or 0
        largest = max(item.size, known.get(entry.old_id, 0))
        if largest > cap:
            item.summary = f"larger than {format_size(cap)} (the cap per file; diff not sent)"


async def _object_sizes(git: Git, ids: Sequence[str]) -> dict[str, int]:
    if not ids:
        return {}
    out = await git.run(["cat-file", "--batch-check=%(objectname) %(objectsize)"], stdin="\n".join(ids).encode())
    sizes: dict[str, int] = {}
    for line in out.decode().splitlines():
        name, _, size = line.partition(" ")
        if size.isdigit():
            sizes[name] = int(size)
    return sizes


def _disk_size(top: str, entry: Entry) -> int:
    if entry.status == "D":
        return 0
    try:
        return os.lstat(os.path.join(top, entry.path)).st_size
    except OSError:
        return 0


async def patches(git: Git, chosen: Sides, items: list[Item], job: Job) -> None:
    """One `git diff -p` for every path still to send; each file's section, binary ones summarised."""
    tracked = [item for item in items if not item.summary and item.entry.status != "?"]
    if not tracked:
        return
    paths = list(dict.fromkeys(p for item in tracked for p in item.entry.paths))
    args = ["diff", "-p", "-U3", "--src-prefix=a/", "--dst-prefix=b/", *diff.OPTIONS, *chosen.ids, "--", *paths]
    patch = (await git.run(args)).decode("utf-8", "replace")
    pieces = diff.sections(patch)
    for item, section in _match(tracked, pieces):
        item.section = section
        if diff.binary(section):
            item.summary = "binary (diff not sent)"


def _match(tracked: list[Item], pieces: list[str]) -> list[tuple[Item, str]]:
    """Sections to files: git prints them in the order of its listing, which is path order for both."""
    if len(pieces) == len(tracked):
        return list(zip(tracked, pieces, strict=True))
    by_header = {f"diff --git a/{i.entry.old_path or i.entry.path} b/{i.entry.path}": i for i in tracked}
    return [(by_header[p.partition("\n")[0]], p) for p in pieces if p.partition("\n")[0] in by_header]


async def texts(
    git: Git, top: str, chosen: Sides, items: list[Item], job: Job
) -> tuple[list[ChangedFile], dict[str, str], list[Skip]]:
    """Each file's whole text after the change (read through the policy), and the file as the reviewer gets it."""
    wanted = [i for i in items if not i.summary and i.entry.status != "D" and i.entry.new_mode.startswith("100")]
    if chosen.right is None:
        read = await anyio.to_thread.run_sync(_read_disk, top, wanted, job, abandon_on_cancel=True)
    else:
        read = await _read_objects(git, wanted, job)
    files: list[ChangedFile] = []
    skipped: list[Skip] = []
    for item in items:
        text = read.get(item.entry.path)
        if isinstance(text, Skip):
            skipped.append(replace(text, reason=f"whole text not sent: {text.reason}"))
            text = None
        if item.entry.status == "?" and not item.summary:
            item.section = untracked_patch(item.entry.path, text) if text is not None else ""
            unread = read.get(item.entry.path)
            if text is None:
                item.summary = unread.reason if isinstance(unread, Skip) else "a symlink or special file (not followed)"
        files.append(_file(item, text, job, skipped))
    texts = {f.path: f.text for f in files if f.text is not None}
    return files, texts, skipped


def _file(item: Item, text: str | None, job: Job, skipped: list[Skip]) -> ChangedFile:
    entry = item.entry
    patch, held = diff.withhold(item.section, job.scanner) if item.section and not item.summary else ("", [])
    skipped.extend(Skip(entry.path, f"a hunk of its diff withheld: it holds {kind}", True) for kind in held)
    status = diff.STATUS.get(entry.status, entry.status)
    return ChangedFile(entry.path, entry.old_path, status, patch, item.summary, text, diff.added_lines(patch))


def _read_disk(top: str, wanted: list[Item], job: Job) -> dict[str, str | Skip]:
    read: dict[str, str | Skip] = {}
    for item in wanted:
        job.check_time()
        real = os.path.join(top, item.entry.path)
        try:
            info = os.lstat(real)
        except OSError:
            read[item.entry.path] = Skip(item.entry.path, "it disappeared before it was read")
            continue
        if not stat.S_ISREG(info.st_mode):
            continue  # a symlink: its diff (the target's path) says it all
        found = Found(item.entry.path, real, info.st_size, False, (info.st_dev, info.st_ino))
        read[item.entry.path] = read_text(found, job)
    return read


async def _read_objects(git: Git, wanted: list[Item], job: Job) -> dict[str, str | Skip]:
    if not wanted:
        return {}
    request = "\n".join(item.entry.new_id for item in wanted).encode()
    out = await git.run(["cat-file", "--batch"], stdin=request, out_bytes=sum(i.size + 200 for i in wanted) + 4096)
    read: dict[str, str | Skip] = {}
    offset = 0
    for item in wanted:
        header_end = out.index(b"\n", offset)
        size = int(out[offset:header_end].split()[2])
        data = out[header_end + 1 : header_end + 1 + size]
        offset = header_end + 1 + size + 1
        read[item.entry.path] = decode(item.entry.path, data, job)
    return read


def _text_path(path: str) -> bool:
    try:
        path.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True
