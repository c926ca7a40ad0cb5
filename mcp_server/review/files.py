"""Each changed path on its way to the reviewer: named through the policy, sized, its diff cut out, its whole text
decoded by the same reader as `files`, and summarised in one line when it is not sent.

Every side is an object by now (the working tree's were written by worktree.py, read through the policy), so the
diff is `diff-tree` between two trees and the texts are blobs: git opens no work-tree file here."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, replace

from mcp_server.context.model import Job, Skip
from mcp_server.context.read import decode
from mcp_server.core import threads
from mcp_server.core.quoting import format_size
from mcp_server.policy import names
from mcp_server.review import diff
from mcp_server.review.git import Git
from mcp_server.review.model import ChangedFile, Entry

_SUBMODULE = "160000"
_ZERO = frozenset("0")


@dataclass
class Item:
    """A changed path on its way: the entry, and what is known of it so far."""

    entry: Entry
    summary: str = ""
    section: str = ""
    size: int = 0
    old_size: int = 0


def classify(listed: list[Entry], top: str, job: Job) -> tuple[list[Item], list[Skip]]:
    """Each path through the policy (its places and names, as a walk of the top folder judges them): secrets left
    out before git prints a diff of them, generated and vendored files summarised."""
    items: list[Item] = []
    skipped: list[Skip] = []
    for index, entry in enumerate(listed):
        if index == job.limits.review_files:
            rest = len(listed) - index
            skipped.append(Skip("…", f"{rest:,} more changed files past the {index:,}-file bound, not reviewed"))
            break
        reason = next((why for path in entry.paths if (why := withheld(path, top, job)) is not None), None)
        if reason is not None:
            skipped.append(Skip(entry.path, reason, True))
        elif not _text_path(entry.path):
            skipped.append(Skip(entry.path, "its name is not UTF-8"))
        else:
            items.append(Item(entry, _summary_by_name(entry)))
    return items, skipped


def withheld(path: str, top: str, job: Job) -> str | None:
    """Why the policy withholds a path of the work tree at `top` by its place or its names (a key folder on the way,
    a folder of secrets, `.env`, `db_password.txt`), as a walk of `top` would; None when it does not."""
    if job.places.holds(f"{top}/{path}"):
        return "in a place where keys or credentials are kept (not sent)"
    return names.withheld(path.split("/"), os.path.basename(top))


def _summary_by_name(entry: Entry) -> str:
    if _SUBMODULE in (entry.old_mode, entry.new_mode):
        return f"a submodule: {entry.old_id[:10]} -> {entry.new_id[:10]}"
    parts = entry.path.split("/")
    if any(names.skipped_dir(part) for part in parts[:-1]):
        return "in a vendored, generated or tool folder (diff not sent)"
    if names.generated_name(parts[-1]):
        return "a lock file or generated file (diff not sent)"
    return ""


async def sizes(git: Git, items: list[Item], notes: dict[str, str], job: Job) -> None:
    """The size of each side; a side past the per-file cap, or one whose content was not read (`notes`), makes the
    file a summary."""
    ids = {i for item in items if not item.summary for i in (item.entry.old_id, item.entry.new_id) if set(i) - _ZERO}
    known = await _object_sizes(git, sorted(ids))
    cap = job.limits.context_file_bytes
    for item in items:
        if item.summary:
            continue
        entry = item.entry
        item.size = known.get(entry.new_id, 0)
        item.old_size = known.get(entry.old_id, 0)
        if entry.path in notes:
            item.summary = notes[entry.path]
        elif max(item.size, item.old_size) > cap:
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


async def patches(git: Git, trees: Sequence[str], items: list[Item]) -> None:
    """One `diff-tree -p` between the two trees for every path still to send; each file's section, binary ones
    summarised."""
    tracked = [item for item in items if not item.summary]
    if not tracked:
        return
    paths = list(dict.fromkeys(p for item in tracked for p in item.entry.paths))
    args = ["diff-tree", "-r", "-p", "-U3", "--src-prefix=a/", "--dst-prefix=b/", *diff.OPTIONS, *trees, "--", *paths]
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


async def texts(git: Git, items: list[Item], job: Job) -> tuple[list[ChangedFile], dict[str, str], list[Skip]]:
    """Each file's whole text after the change (decoded and scanned by `files`' reader), and the file as the
    reviewer gets it."""
    wanted = [i for i in items if not i.summary and i.entry.status != "D" and _blob(i.entry.new_mode)]
    read = await _read_objects(git, wanted, job)
    before = await _secrets_before(git, items, job)
    # Every hunk is scanned: 4 MiB of diff takes a while (seconds for text that wakes every rule), so in a worker
    # thread of the caller's share, never on the event loop that answers every other call.
    files, skipped = await threads.run(_changed, items, read, before, job)
    texts = {f.path: f.text for f in files if f.text is not None}
    return files, texts, skipped


def _changed(
    items: list[Item], read: dict[str, str | Skip], before: dict[str, str], job: Job
) -> tuple[list[ChangedFile], list[Skip]]:
    files: list[ChangedFile] = []
    skipped: list[Skip] = []
    for item in items:
        text = read.get(item.entry.path)
        held = before.get(item.entry.path)
        if isinstance(text, Skip) and text.secret and item.section and not item.summary:
            held = f"after the change {text.reason}"
        elif isinstance(text, Skip):
            skipped.append(replace(text, reason=f"whole text not sent: {text.reason}"))
        if held is not None:  # the key's other lines may fall outside any hunk: no line of the file is sent
            what = "its diff withheld" if isinstance(text, str) else "its diff and whole text withheld"
            skipped.append(Skip(item.entry.path, f"{what}: {held}", True))
            item.summary = "withheld: the file holds a secret (see skipped)"
        if isinstance(text, Skip):
            text = None
        files.append(_file(item, text, job, skipped))
    return files, skipped


def _file(item: Item, text: str | None, job: Job, skipped: list[Skip]) -> ChangedFile:
    entry = item.entry
    patch, held = diff.withhold(item.section, job.scanner) if item.section and not item.summary else ("", [])
    skipped.extend(Skip(entry.path, f"a hunk of its diff withheld: it holds {kind}", True) for kind in held)
    status = diff.STATUS.get(entry.status, entry.status)
    return ChangedFile(entry.path, entry.old_path, status, patch, item.summary, text, diff.added_lines(patch))


async def _read_objects(git: Git, wanted: list[Item], job: Job) -> dict[str, str | Skip]:
    blobs = await _blobs(git, [(item.entry.new_id, item.size) for item in wanted])
    return await threads.run(_decoded, wanted, blobs, job)  # decoding and scanning 4 MiB: off the event loop


def _decoded(wanted: list[Item], blobs: list[bytes], job: Job) -> dict[str, str | Skip]:
    return {item.entry.path: decode(item.entry.path, data, job) for item, data in zip(wanted, blobs, strict=True)}


async def _secrets_before(git: Git, items: list[Item], job: Job) -> dict[str, str]:
    """Per path whose diff is to be sent: what secret the file held before the change, by the Scanner."""
    old = [i for i in items if i.section and not i.summary and set(i.entry.old_id) - _ZERO and _blob(i.entry.old_mode)]
    blobs = await _blobs(git, [(item.entry.old_id, item.old_size) for item in old])
    return await threads.run(_scanned, old, blobs, job)


def _scanned(old: list[Item], blobs: list[bytes], job: Job) -> dict[str, str]:
    found: dict[str, str] = {}
    for item, data in zip(old, blobs, strict=True):
        finding = job.scanner.find_bytes(data)
        if finding is not None:
            found[item.entry.path] = f"before the change {finding.reason}"
    return found


async def _blobs(git: Git, wanted: list[tuple[str, int]]) -> list[bytes]:
    """The objects' bytes, in the order asked, from one `cat-file --batch` bounded by their known sizes."""
    if not wanted:
        return []
    request = "\n".join(object_id for object_id, _ in wanted).encode()
    out = await git.run(["cat-file", "--batch"], stdin=request, out_bytes=sum(size + 200 for _, size in wanted) + 4096)
    blobs: list[bytes] = []
    offset = 0
    for _ in wanted:
        header_end = out.index(b"\n", offset)
        size = int(out[offset:header_end].split()[2])
        blobs.append(out[header_end + 1 : header_end + 1 + size])
        offset = header_end + 1 + size + 1
    return blobs


def _blob(mode: str) -> bool:
    return mode.startswith("100")  # a regular file (644 or 755): not a symlink, submodule or deletion


def _text_path(path: str) -> bool:
    try:
        path.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True
