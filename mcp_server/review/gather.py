"""From a folder and a `base` to the change a reviewer receives: sides, the changed files, their diff and text.

Each changed path passes the same policy as `files` (mcp_server/policy/): a path named like a secret is left out
before git prints its diff; the whole text of each file is read through context/read.py (regular, capped, UTF-8,
scanned for keys), and every hunk of the diff is scanned for keys too, so a key added to a source file is withheld
with its hunk. Binary files, submodules, lock files and files past the size cap are summarised in one line.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import anyio.to_thread

from mcp_server.context.model import Found, Job, Skip
from mcp_server.context.read import decode, read_text
from mcp_server.errors import InputError
from mcp_server.policy import names
from mcp_server.quoting import clip, format_size
from mcp_server.review import diff, sides
from mcp_server.review.git import Bounds, Git, GitError, describe
from mcp_server.review.model import Change, ChangedFile, Entry, Sides
from mcp_server.review.render import block_of, untracked_patch

_DIFF = ["-O/dev/null", "--no-color", "--no-ext-diff", "--no-textconv", "--ignore-submodules=dirty", "-M"]
_SUBMODULE = "160000"
_ZERO = frozenset("0")


@dataclass
class _Item:
    """A changed path on its way: the entry, and what is known of it so far."""

    entry: Entry
    summary: str = ""
    section: str = ""
    size: int = 0


async def gather_change(folder: str | None, base: str | None, job: Job) -> Change:
    """The change to review in the work tree at `folder` (None: the working directory); InputError when there is
    nothing to review or it cannot be read."""
    seconds = job.limits.review_seconds
    try:
        with anyio.fail_after(seconds):
            return await _gather(folder, base, job)
    except GitError as e:
        raise InputError(f"git could not read the repository: {describe(e)}") from None
    except TimeoutError:
        raise InputError(
            f"reading the change took more than {seconds:g} s (the bound for gathering a review); pass a narrower "
            "base, or review a smaller change"
        ) from None
    finally:
        job.stop.set()  # a worker thread still reading files stops at its next look at the flag


async def _gather(folder: str | None, base: str | None, job: Job) -> Change:
    bounds = Bounds(job.limits.review_diff_bytes, job.limits.review_seconds)
    top = await _top(Git(_folder(folder, job), bounds), folder or ".", job)
    git = Git(top, bounds)
    await git.disarm()
    chosen, listed = await _choose(git, base)
    items, skipped = _classify(listed, job)
    await _sizes(git, top, chosen, items, job)
    await _patches(git, chosen, items, job)
    files, texts, more = await _texts(git, top, chosen, items, job)
    change = Change(chosen, top, tuple(files), tuple(sorted(skipped + more, key=lambda s: s.path)), texts=texts)
    return _bounded(change, job)


def _folder(folder: str | None, job: Job) -> str:
    """The folder named (relative to the working directory), refused outside the file roots."""
    text = folder or "."
    if "\x00" in text or len(text) > 4096:
        raise InputError("path is not a valid folder path (too long, or a NUL)")
    path = Path(text).expanduser()
    logical = Path(os.path.normpath(path if path.is_absolute() else job.base_dir / path))
    real = job.files.resolve(logical)
    if not real.is_dir():
        raise InputError(f"{clip(text)} is not a folder; pass the folder of a git work tree")
    return str(real)


async def _top(git: Git, shown: str, job: Job) -> str:
    try:
        out = await git.run(["rev-parse", "--show-toplevel"])
    except GitError as e:
        if "not a git repository" in e.stderr:
            raise InputError(
                f"{clip(shown)} is not inside a git repository; pass the folder of a git work tree"
            ) from None
        raise InputError(f"git cannot read {clip(shown)}: {describe(e)}") from None
    top = out.decode("utf-8", "surrogateescape").rstrip("\n")
    real = await anyio.Path(top).resolve()
    if not job.files.inside(Path(real)):
        raise job.files.refusal(f"{shown} (its repository's top folder, {top})")
    if names.under_secret_place(str(real), job.places):
        raise InputError(f"{clip(shown)} is refused: it lies where keys, credentials or system files are kept")
    return str(real)


async def _choose(git: Git, base: str | None) -> tuple[Sides, list[Entry]]:
    """The sides and the changed paths; with no base, the working tree, else the last commit."""
    if base and base.strip():
        chosen = await sides.explicit(git, base)
        listed = await _listing(git, chosen)
        if not listed:
            raise InputError(f"nothing to review: no difference in {chosen.shown}")
        return chosen, listed
    head = await sides.head(git)
    left = head or await sides.empty_tree(git)
    against = f"HEAD ({head[:10]})" if head else "an empty tree (no commit yet)"
    chosen = Sides(left, None, f"the working tree (staged, unstaged and untracked) against {against}")
    listed = await _listing(git, chosen)
    if listed:
        return chosen, listed
    if head is None:
        raise InputError("nothing to review: the repository has no commit and no changes")
    chosen = Sides(await sides.parent(git, head), head, f"the last commit ({head[:10]}) against its parent")
    listed = await _listing(git, chosen)
    if not listed:
        raise InputError("nothing to review: the working tree is clean and the last commit changes nothing")
    return chosen, listed


async def _listing(git: Git, chosen: Sides) -> list[Entry]:
    out = await git.run(["diff", "--raw", "-z", "--no-abbrev", *_DIFF, *_ids(chosen)])
    listed = diff.entries(out)
    if chosen.right is None:
        others = await git.run(["ls-files", "-z", "--others", "--exclude-standard"])
        for path in others.decode("utf-8", "surrogateescape").split("\0"):
            if path:
                listed.append(Entry("?", path, None, "000000", "100644", "0" * 40, "0" * 40))
    return sorted(listed, key=lambda e: e.path)


def _ids(chosen: Sides) -> list[str]:
    return [chosen.left] if chosen.right is None else [chosen.left, chosen.right]


def _classify(listed: list[Entry], job: Job) -> tuple[list[_Item], list[Skip]]:
    """Each path through the policy's names: secrets left out, generated and vendored files summarised."""
    items: list[_Item] = []
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
            items.append(_Item(entry, _summary_by_name(entry)))
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


async def _sizes(git: Git, top: str, chosen: Sides, items: list[_Item], job: Job) -> None:
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


async def _patches(git: Git, chosen: Sides, items: list[_Item], job: Job) -> None:
    """One `git diff -p` for every path still to send; each file's section, binary ones summarised."""
    tracked = [item for item in items if not item.summary and item.entry.status != "?"]
    if not tracked:
        return
    paths = list(dict.fromkeys(p for item in tracked for p in item.entry.paths))
    args = ["diff", "-p", "-U3", "--src-prefix=a/", "--dst-prefix=b/", *_DIFF, *_ids(chosen), "--", *paths]
    patch = (await git.run(args)).decode("utf-8", "replace")
    pieces = diff.sections(patch)
    for item, section in _match(tracked, pieces):
        item.section = section
        if diff.binary(section):
            item.summary = "binary (diff not sent)"


def _match(tracked: list[_Item], pieces: list[str]) -> list[tuple[_Item, str]]:
    """Sections to files: git prints them in the order of its listing, which is path order for both."""
    if len(pieces) == len(tracked):
        return list(zip(tracked, pieces, strict=True))
    by_header = {f"diff --git a/{i.entry.old_path or i.entry.path} b/{i.entry.path}": i for i in tracked}
    return [(by_header[p.partition("\n")[0]], p) for p in pieces if p.partition("\n")[0] in by_header]


async def _texts(
    git: Git, top: str, chosen: Sides, items: list[_Item], job: Job
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
            item.summary = "" if text is not None else f"{unread.reason if isinstance(unread, Skip) else 'unread'}"
        files.append(_file(item, text, job, skipped))
    texts = {f.path: f.text for f in files if f.text is not None}
    return files, texts, skipped


def _file(item: _Item, text: str | None, job: Job, skipped: list[Skip]) -> ChangedFile:
    entry = item.entry
    patch, held = diff.withhold(item.section, job.scanner) if item.section and not item.summary else ("", [])
    skipped.extend(Skip(entry.path, f"a hunk of its diff withheld: it holds {kind}", True) for kind in held)
    status = diff.STATUS.get(entry.status, entry.status)
    return ChangedFile(entry.path, entry.old_path, status, patch, item.summary, text, diff.added_lines(patch))


def _read_disk(top: str, wanted: list[_Item], job: Job) -> dict[str, str | Skip]:
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


async def _read_objects(git: Git, wanted: list[_Item], job: Job) -> dict[str, str | Skip]:
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


def _bounded(change: Change, job: Job) -> Change:
    """The diff within its line bound, and the whole within the token budget: whole texts go first, largest first."""
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
    block, tokens = block_of(change)
    files = list(change.files)
    skipped = list(change.skipped)
    for file in sorted((f for f in files if f.text), key=lambda f: -len(f.text or "")):
        if tokens <= job.budget:
            break
        files[files.index(file)] = replace(file, text=None)
        skipped.append(Skip(file.path, f"whole text not sent: the change is over the {job.budget:,}-token budget"))
        block, tokens = block_of(replace(change, files=tuple(files)))
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
        notices.append(f"{len(budget)} whole files left out to fit the token budget; their diffs were reviewed.")
    return tuple(notices)
