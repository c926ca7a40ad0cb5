"""From the paths a call names to the block sent before its prompt: resolve, walk, read, bound, render.

Everything here is blocking file work and runs in one worker thread per call (`gather_files`). A refusal (a
missing path, one outside the roots, a secret named directly, a bound passed) raises InputError before anything
is sent; what is merely skipped is reported in the result.
"""

from __future__ import annotations

import contextlib
import math
import os
import stat
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from mcp_server.context.ignore import MAX_PARENT_LEVELS
from mcp_server.context.model import Found, Gathered, Job, Sent, Skip
from mcp_server.context.read import read_text
from mcp_server.context.render import file_block, render
from mcp_server.context.walk import Walk, secrets_of, utf8
from mcp_server.core import threads
from mcp_server.core.config import CONTEXT_ENV, MAX_PATHS
from mcp_server.core.errors import InputError
from mcp_server.core.quoting import clip, format_size
from mcp_server.policy import names
from mcp_server.spending.tokens import PER_CHAR, estimate

MAX_PATH_CHARS = 4096  # PATH_MAX on Linux


@dataclass(frozen=True)
class Target:
    shown: str  # as the caller wrote it, for messages
    logical: str  # absolute, `..` folded, symlinks kept: what labels are made from
    real: Path
    info: os.stat_result


async def gather_files(paths: Sequence[str], job: Job) -> Gathered:
    """Gather in a worker thread; a cancelled call sets the stop flag, and the abandoned thread stops soon after."""
    try:
        return await threads.run(gather, paths, job)
    finally:
        job.stop.set()


def gather(paths: Sequence[str], job: Job) -> Gathered:
    """The files of one call, sorted by label and read, or an InputError saying why nothing can be sent."""
    check_paths(paths)
    targets = [resolve_target(text, job) for text in dict.fromkeys(paths)]
    root = _common_root(targets)
    named = [t.real for t in targets if not stat.S_ISDIR(t.info.st_mode)]
    if named and job.more_secrets is None:  # a file named directly may be a hard link to its project's .env
        job.more_secrets = secrets_of(job, [_home(path, job) for path in named])
    walk = Walk(job)
    for target in targets:
        label = os.path.relpath(target.logical, root).replace(os.sep, "/")
        label = "" if label == "." else label
        if stat.S_ISDIR(target.info.st_mode):
            walk.folder(target.real, label)
        else:
            walk.file(target.real, label, target.info)
    try:
        sent, skipped = _read_all(_unique(walk.found), job)
    finally:
        job.close()
    skipped = walk.skipped + skipped
    if not sent:
        raise InputError(_nothing_to_send(paths, skipped))
    text = render([f.block for f in sent])
    return Gathered(tuple(sent), tuple(sorted(skipped, key=lambda s: s.path)), text, estimate(text))


def check_paths(paths: Sequence[str], argument: str = "files") -> None:
    """The bounds on a list of paths a tool was given (`argument` names the list in messages)."""
    if len(paths) > MAX_PATHS:
        raise InputError(
            f"{argument} names {len(paths)} paths; at most {MAX_PATHS} (name folders instead of every file)"
        )
    for text in paths:
        if not text.strip():
            raise InputError(f"{argument} holds an empty path; pass paths of files or folders")
        if len(text) > MAX_PATH_CHARS or "\x00" in text or not utf8(text):
            shown = clip(text.encode("utf-8", "backslashreplace").decode())
            raise InputError(
                f"{shown} in {argument} is not a valid path (too long, a NUL or a character that is not text)"
            )


def resolve_target(text: str, job: Job) -> Target:
    path = Path(text)
    with contextlib.suppress(RuntimeError):  # "~nobody": kept literal, reported as missing
        path = path.expanduser()
    logical = os.path.normpath(path if path.is_absolute() else job.base_dir / path)
    job.files.resolve(Path(logical))  # outside the roots, or HTTP without roots: refused in the policy's words
    try:
        real = Path(logical).resolve(strict=True)
        info = os.stat(real)
    except (OSError, RuntimeError, ValueError):
        raise InputError(
            f"{clip(text)} does not exist; check the path (relative paths start at the server's working directory, "
            f"{clip(str(job.base_dir))})"
        ) from None
    if not job.files.inside(real):
        raise job.files.refusal(text)
    if not (stat.S_ISDIR(info.st_mode) or stat.S_ISREG(info.st_mode)):
        raise InputError(f"{clip(text)} is not a regular file or a folder (a device, pipe or socket)")
    if job.places.holds(str(real)) or job.places.holds(logical):
        raise InputError(
            f"{clip(text)} is refused: it lies where keys, credentials or system files are kept; nothing was sent"
        )
    if not stat.S_ISDIR(info.st_mode) and (
        names.secret_name(real.name)
        or names.secret_name(Path(logical).name)
        or names.bare_secret(real.parent.name, real.name)
        or names.bare_secret(Path(logical).parent.name, Path(logical).name)
    ):
        raise InputError(f"{clip(text)} is refused: it is named like a file of keys or credentials; nothing was sent")
    return Target(text, logical, real, info)


def _home(real: Path, job: Job) -> Path:
    """The folder whose files named like secrets a file named directly may be another name for: its repository's
    top folder (the nearest above holding `.git`, inside the roots), else its own folder."""
    for folder in [real.parent, *real.parent.parents][:MAX_PARENT_LEVELS]:
        if not job.files.inside(folder):
            break
        if os.path.lexists(folder / ".git"):
            return folder
    return real.parent


def _common_root(targets: list[Target]) -> str:
    folders = [t.logical if stat.S_ISDIR(t.info.st_mode) else os.path.dirname(t.logical) for t in targets]
    return os.path.commonpath(folders)


def _unique(found: list[Found]) -> list[Found]:
    """Sorted by label; one file reached twice (a link, a file inside a folder also given) is kept once."""
    chosen: dict[tuple[int, int], Found] = {}
    named: set[tuple[int, int]] = set()
    for item in sorted(found, key=lambda f: f.label):
        chosen.setdefault(item.identity, item)
        if item.named:
            named.add(item.identity)
    return sorted(
        (Found(f.label, f.real, f.size, f.identity in named, f.identity) for f in chosen.values()),
        key=lambda f: f.label,
    )


def _read_all(found: list[Found], job: Job) -> tuple[list[Sent], list[Skip]]:
    sent: list[Sent] = []
    skipped: list[Skip] = []
    read = tokens = 0
    limits = job.limits
    for index, item in enumerate(found):
        job.check_time()
        result = read_text(item, job)
        if isinstance(result, Skip):
            if item.named and result.secret:
                raise InputError(f"{item.label} is refused: {result.reason}; nothing was sent")
            skipped.append(result)
            continue
        if len(sent) == limits.context_files:
            raise InputError(
                f"more than {limits.context_files:,} text files to send (the bound for one call); pass narrower "
                "paths, or list generated files in .gitignore"
            )
        read += item.size
        block = file_block(item.label, result)
        cost = estimate(block)
        tokens += cost
        sent.append(Sent(item.label, item.size, cost, block))
        if tokens > job.budget or read > limits.context_total_bytes:
            raise InputError(_too_much(sent, found[index + 1 :], tokens, read, job))
    return sent, skipped


def _too_much(sent: list[Sent], unread: list[Found], tokens: int, read: int, job: Job) -> str:
    """Over the budget or the bytes bound: the estimate (unread files at most 0.3 tokens a byte) and the largest."""
    total = tokens + sum(math.ceil(f.size * PER_CHAR) for f in unread)
    sizes = [(f.path, f.bytes) for f in sent] + [(f.label, f.size) for f in unread]
    largest = ", ".join(f"{path} ({format_size(size)})" for path, size in sorted(sizes, key=lambda p: -p[1])[:5])
    if tokens > job.budget:
        over = f"over the {job.budget:,} this server sends ({CONTEXT_ENV}, sized to the model's context)"
    else:
        over = f"over the {format_size(job.limits.context_total_bytes)} one call reads"
    return (
        f"the files come to about {total:,} tokens ({len(sent) + len(unread):,} files, {format_size(read)} read "
        f"before stopping), {over}; nothing was sent. Largest: {largest}. Pass fewer or narrower paths"
    )


def _nothing_to_send(paths: Sequence[str], skipped: list[Skip]) -> str:
    shown = ", ".join(clip(p, 80) for p in list(paths)[:5])
    if not skipped:
        return f"no text files to send in {shown}: the folders are empty; nothing was sent"
    reasons = "; ".join(f"{s.path}: {s.reason}" for s in skipped[:5])
    more = f" and {len(skipped) - 5} more" if len(skipped) > 5 else ""
    return f"no text files to send in {shown}; skipped {reasons}{more}. Nothing was sent"
