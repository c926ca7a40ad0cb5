"""The scratch copy: what the walls allow of the user's folder, copied file by file into a run's private `tree`.

No git runs and nothing of the repository's configuration is read as a program: the folder is walked by the same
walk as `files` and `investigate` (mcp_server/context/walk.py: no .git, no vendored or generated trees, nothing
gitignored, no symlinked folder, no symlink out of the folder, no file named like a secret), every file is opened
through the policy's checked opening (no symlink swapped in is followed, no secret place, no hard link to a secret)
and its bytes are scanned for keys before they are written, with what a binary file holds one level down (UTF-16
text, gzip, zip, a PDF's streams: policy/containers.py); a file that holds one, or that cannot be scanned, is left
out. Tracked and untracked files alike are copied (the walk does not ask git), binary ones too, each at most the
per-file cap of `files`. Nothing is written outside the run's `tree`.
"""

from __future__ import annotations

import dataclasses
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

from mcp_server.context.model import Found, Job, Skip
from mcp_server.context.read import read_bytes
from mcp_server.context.walk import Entered, Walk
from mcp_server.core.errors import InputError
from mcp_server.core.quoting import format_size
from mcp_server.policy import containers, names

MAX_FILES = 20_000  # files one scratch copy may hold
MAX_BYTES = 512 * 2**20  # bytes one scratch copy may hold
COPY_SECONDS = 60.0  # walking, reading, scanning and writing the copy
_CREATE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
_VENDORED = "a vendored, generated or tool folder"
_VIRTUALENV = "a virtualenv"


@dataclass
class Copied:
    """What the copy holds and what it left out."""

    files: int = 0
    bytes: int = 0
    seconds: float = 0.0
    withheld: dict[str, Skip] = field(default_factory=dict)  # by label: what the walk skipped, secrets, unreadable
    vendored: list[str] = field(default_factory=list)  # labels of dependency folders (.venv, node_modules)
    links: dict[str, str] = field(default_factory=dict)  # label -> its target's label: a symlink copied as a file


def copy_tree(root: Path, tree: Path, job: Job, scopes: tuple[str, ...] = ("",)) -> Copied:
    """Copy what the walls allow of the paths given (`scopes`, their labels below `root`; "" is all of it) into
    `tree` (empty, ours). Only those paths: their common folder's other files (a third project beside two given)
    would be there for the check's code to read. Blocking: runs in a worker thread."""
    started = time.monotonic()
    job = dataclasses.replace(job, limits=dataclasses.replace(job.limits, context_seconds=COPY_SECONDS))
    walk = _walked(root, job, scopes)
    copied = Copied()
    for skip in walk.skipped:  # each is refused by its reason, to reads and writes alike (not "does not exist")
        copied.withheld[skip.path.rstrip("/")] = skip
        if _dependencies(skip):
            copied.vendored.append(skip.path.rstrip("/"))
    found = sorted(walk.found, key=lambda f: f.label)  # a folder's files together: its descriptor opened once
    if len(found) > MAX_FILES:
        raise InputError(
            f"the folder holds {len(found):,} files the walls allow, more than the {MAX_FILES:,} a scratch copy may "
            "hold; pass a smaller folder (the project's own, not a parent of several)"
        )
    made: set[str] = set()
    try:
        for item in found:
            job.check_time()
            data = read_bytes(item, job)
            if isinstance(data, Skip):
                copied.withheld[item.label] = data
                continue
            finding = job.scanner.find_bytes(data)
            why = finding.reason if finding is not None else containers.hidden(job.scanner, data)
            if why is not None:  # the check may decode what a scan of the bytes cannot read (containers.py)
                copied.withheld[item.label] = Skip(item.label, why, True)
                continue
            copied.bytes += len(data)
            if copied.bytes > MAX_BYTES:
                raise InputError(
                    f"the folder holds more than {format_size(MAX_BYTES)} the walls allow, more than a scratch copy "
                    "may hold; pass a smaller folder"
                )
            _write(tree, item.label, data, _executable(item.real), made)
            if item.real != f"{str(root).rstrip('/')}/{item.label}":  # reached through a symlink (judged as its target)
                copied.links[item.label] = os.path.relpath(item.real, root)
            copied.files += 1
    finally:
        job.close()
    copied.seconds = time.monotonic() - started
    return copied


def _walked(root: Path, job: Job, scopes: tuple[str, ...]) -> Walk:
    """One walk of every path given: a folder walked whole, a file judged as a walk from `root` would judge it."""
    walk = Walk(job)
    for scope in scopes:
        if not scope:
            walk.folder(root, "")
            continue
        place = Walk(job).place(root, scope.split("/"))  # its own walk: each scope's folders are listed afresh
        if isinstance(place, Entered):
            walk.folder(Path(place.real), place.label)
        elif isinstance(place, Found):
            walk.found.append(place)
        elif isinstance(place, Skip):
            walk.skipped.append(place)
    walk.found = list({f.label: f for f in walk.found}.values())  # a file given and its folder too: copied once
    return walk


def _dependencies(skip: Skip) -> bool:
    """Whether a folder the walk skipped holds installed dependencies (a virtualenv, node_modules), which the check's
    sandbox mounts read-only; tool state and build output (.idea, .terraform, .direnv, dist) stay out of it."""
    if not skip.path.endswith("/"):
        return False
    name = skip.path.rstrip("/").rpartition("/")[2]
    return skip.reason == _VIRTUALENV or (skip.reason == _VENDORED and name in names.DEPENDENCY_DIRS)


def _write(tree: Path, label: str, data: bytes, executable: bool, made: set[str]) -> None:
    folder, _, _ = label.rpartition("/")
    if folder and folder not in made:
        os.makedirs(tree / folder, mode=0o700, exist_ok=True)
        made.add(folder)
    write_all(os.open(tree / label, _CREATE, 0o700 if executable else 0o600), data)


def write_all(fd: int, data: bytes) -> None:
    """`data` written whole to `fd`, which is closed after (os.write may write less than it is given)."""
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
    finally:
        os.close(fd)


def _executable(real: str) -> bool:
    try:
        return bool(os.stat(real).st_mode & 0o100)
    except OSError:
        return False
