"""The working tree as git would record it, read by the server itself: git never opens a work-tree file.

Git compares a work-tree file with the index by reading it through the repository's filters, and those are
programs the repository names. So git is asked only for listings: the index (`ls-files --stage --debug`, with each
entry's stat data), the new files (`ls-files --others --exclude-standard`) and the tree compared with (`ls-tree`).
A file whose stat data still matches its index entry (and is not racily clean) is taken as the index has it; any
other is read through the one policy (`files`' reader: its place, its names, hard links, the size cap, the checked
opening), hashed as a git blob and written to the review's own object store (store.py). A file the policy withholds
is never opened: the tree keeps what the compared side had there, and the listing names it for files.py to
withhold. The tree of the whole working tree is written beside the blobs, reusing the compared tree's folders that
nothing changed, so the diff is git's own between two trees (`diff-tree`), which reads no work-tree file.

No filter runs, not even the user's own (git-lfs): a file a clean filter would change is compared as it is on
disk. With `core.autocrlf` set, CRLF line ends are read as LF, as git stores them.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass, field

from mcp_server.context.model import Found, Job, Skip
from mcp_server.context.read import read_bytes
from mcp_server.core import threads
from mcp_server.core.errors import InputError
from mcp_server.core.quoting import format_size
from mcp_server.review.files import withheld
from mcp_server.review.git import Git
from mcp_server.review.model import Entry
from mcp_server.review.store import Store
from mcp_server.review.trees import build

MAX_LISTING_BYTES = 64 * 2**20  # the index with its stat data: about 300,000 tracked files
_GITLINK = "160000"
_LINK = "120000"
# git's in-memory index flags (cache.h), as `ls-files --debug` prints them
_SKIP_WORKTREE = 1 << 30  # sparse checkout, `update-index --skip-worktree`
_ASSUME_VALID = 0x8000  # `update-index --assume-unchanged`
_INTENT_TO_ADD = 1 << 29  # `git add -N`: the index holds the empty blob's id, which git never wrote


@dataclass(frozen=True)
class Staged:
    """One index entry: its mode, id and stage, and the stat data git recorded (ctime, mtime, inode, size)."""

    mode: str
    oid: str
    stat: tuple[int, int, int, int, int, int]
    flags: int


@dataclass
class Snapshot:
    """The working tree written as a tree, and what reading it found."""

    tree: str
    skipped: list[Skip] = field(default_factory=list)
    notes: dict[str, str] = field(default_factory=dict)  # path -> why its content was not read (a summary)
    withheld: list[Entry] = field(default_factory=list)  # paths the policy withholds by name or place, unread
    untracked: frozenset[str] = frozenset()
    unmerged: frozenset[str] = frozenset()


async def snapshot(git: Git, top: str, left: str, index: str, store: Store, job: Job) -> Snapshot:
    """The working tree at `top` as a tree in `store`, compared by path with `left` (a commit or tree id);
    `index` is the index file's path (its mtime tells racily clean entries)."""
    staged = await git.run(["ls-files", "-z", "--stage", "--debug"], out_bytes=MAX_LISTING_BYTES)
    others = await git.run(["ls-files", "-z", "--others", "--exclude-standard"], out_bytes=MAX_LISTING_BYTES)
    listed = await git.run(["ls-tree", "-r", "-t", "-z", "--full-tree", left], out_bytes=MAX_LISTING_BYTES)
    root = (await git.run(["rev-parse", "--verify", "--quiet", f"{left}^{{tree}}"])).decode().strip()
    reader = Reader(top, store, job, index, await _settings(git))
    return await threads.run(reader.read, staged, others, listed, root)


async def _settings(git: Git) -> dict[str, str]:
    """The few settings that change how git records a file (none names a program): core.filemode, core.autocrlf."""
    out = await git.run(["config", "-z", "--get-regexp", r"^core\.(filemode|autocrlf)$"], checked=False)
    settings: dict[str, str] = {}
    for record in out.decode("utf-8", "replace").split("\0"):
        key, _, value = record.partition("\n")
        if key:
            settings[key.lower()] = value
    return settings


def _staged(out: bytes) -> dict[str, list[tuple[int, Staged]]]:
    """`ls-files --stage --debug -z`: per path, its entries (stage, entry); InputError when it does not parse.

    Each record is `<mode> <id> <stage>\\t<path>\\0` and five lines of stat data, so splitting at NUL gives the first
    header, then chunks of (the stat lines of one entry, the header of the next)."""
    if not out:
        return {}
    found: dict[str, list[tuple[int, Staged]]] = {}
    chunks = out.split(b"\0")
    header = chunks[0]
    try:
        for chunk in chunks[1:]:
            info, _, path = header.partition(b"\t")
            mode, oid, stage = info.split(b" ")
            lines = chunk.split(b"\n", 5)  # five lines of stat data, then the next header (a path may hold \n)
            ctime, mtime = lines[0].split(b": ")[1].split(b":"), lines[1].split(b": ")[1].split(b":")
            inode = lines[2].split(b"ino: ")[1]
            size, _, flags = lines[4].removeprefix(b"  size: ").partition(b"\tflags: ")
            numbers = (int(ctime[0]), int(ctime[1]), int(mtime[0]), int(mtime[1]), int(inode), int(size))
            entry = Staged(mode.decode(), oid.decode(), numbers, int(flags, 16))
            found.setdefault(path.decode("utf-8", "surrogateescape"), []).append((int(stage), entry))
            header = lines[5]
    except (ValueError, IndexError):
        raise InputError("git listed the index in a form this server does not read; review needs git 2.x") from None
    return found


def _names(out: bytes) -> list[str]:
    return [name for name in out.decode("utf-8", "surrogateescape").split("\0") if name]


def _tree(out: bytes) -> tuple[dict[str, tuple[str, str]], dict[str, str]]:
    """`ls-tree -r -t -z`: the compared side's files (path -> (mode, id)) and folders (path -> tree id)."""
    files: dict[str, tuple[str, str]] = {}
    folders: dict[str, str] = {}
    for record in out.decode("utf-8", "surrogateescape").split("\0"):
        head, _, path = record.partition("\t")
        if not path:
            continue
        mode, kind, oid = head.split(" ")
        if kind == "tree":
            folders[path] = oid
        else:
            files[path] = (mode, oid)
    return files, folders


class Reader:
    """Reads one working tree under the policy (blocking: runs in a worker thread)."""

    def __init__(self, top: str, store: Store, job: Job, index: str, settings: dict[str, str]) -> None:
        self.top = top
        self.store = store
        self.job = job
        self.filemode = settings.get("core.filemode", "true").lower() not in ("false", "no", "off", "0")
        self.autocrlf = settings.get("core.autocrlf", "false").lower() in ("true", "input", "yes", "on", "1")
        try:
            info = os.stat(index)
            self.index_time: tuple[int, int] = divmod(info.st_mtime_ns, 10**9)
        except OSError:
            self.index_time = (0, 0)  # no index: nothing is trusted
        self.kept = 0  # bytes of changed files written to the store
        self._folders: dict[str, bool] = {"": True}
        self.snap = Snapshot("")

    def read(self, index: bytes, untracked: bytes, listed: bytes, root: str) -> Snapshot:
        """The snapshot, from git's listings: the index, the untracked names, the compared tree and its id."""
        staged = _staged(index)
        others = _names(untracked)
        left_files, left_folders = _tree(listed)
        left_folders[""] = root
        final: dict[str, tuple[str, str]] = {}
        new = self._bounded(others)
        for path in sorted({*staged, *new}):
            self.job.check_time()
            entries = staged.get(path, [])
            entry = next((e for stage, e in entries if stage == 0), None)
            if entries and entry is None:
                self.snap.unmerged = self.snap.unmerged | {path}
            recorded = self._entry(path, entry, left_files.get(path))
            if recorded is not None:
                final[path] = recorded
        self.snap.untracked = frozenset(new)
        self.snap.tree = build(self.store, final, left_files, left_folders)
        return self.snap

    def _bounded(self, others: list[str]) -> list[str]:
        """The new files to read: at most the review's file bound, folders (an embedded repository) named."""
        files = [name for name in others if not name.endswith("/")]
        for name in others:
            if name.endswith("/"):
                self.snap.skipped.append(Skip(name, "a folder git does not track (an embedded repository); not read"))
        bound = self.job.limits.review_files
        if len(files) > bound:
            rest = len(files) - bound
            self.snap.skipped.append(
                Skip("…", f"{rest:,} more new files not yet tracked, past the {bound:,}-file bound, not reviewed")
            )
        return files[:bound]

    def _entry(self, path: str, entry: Staged | None, before: tuple[str, str] | None) -> tuple[str, str] | None:
        """What the working tree holds at `path` as (mode, id), or None when it holds nothing there."""
        if entry is not None and (entry.mode == _GITLINK or entry.flags & (_SKIP_WORKTREE | _ASSUME_VALID)):
            return entry.mode, entry.oid  # a submodule's commit as staged; a file git is told not to look at
        if not self._under_folders(path):
            return None  # a folder on its way is gone or is a symlink now: git sees the file deleted
        real = f"{self.top}/{path}"
        try:
            info = os.lstat(real)
        except OSError:
            return None
        if entry is not None and self._clean(entry, info):
            return entry.mode, entry.oid  # unread; a secret's staged change is listed, and withheld there by name
        if withheld(path, self.top, self.job) is not None:
            return self._withheld(path, entry, before)
        if stat.S_ISLNK(info.st_mode):
            return self._link(real)
        if not stat.S_ISREG(info.st_mode):
            if not stat.S_ISDIR(info.st_mode):
                self.snap.skipped.append(Skip(path, "not a regular file (a device, pipe or socket); not read"))
            return None
        return self._file(path, real, info, entry, before)

    def _withheld(self, path: str, entry: Staged | None, before: tuple[str, str] | None) -> tuple[str, str] | None:
        """A path the policy withholds by name or place, that may have changed: never opened; listed as changed (so
        the listing's policy names it, and it counts against the file bound), and recorded as the compared side
        had it (so no diff of it is made)."""
        zero = "0" * len(before[1] if before else entry.oid if entry else "0" * 40)
        self.snap.withheld.append(Entry("M" if before else "?", path, None, "000000", "000000", zero, zero))
        return before

    def _clean(self, entry: Staged, info: os.stat_result) -> bool:
        """Whether the file's stat data still matches its index entry and the entry is not racily clean."""
        ctime_s, ctime_ns, mtime_s, mtime_ns, inode, size = entry.stat
        mtime = divmod(info.st_mtime_ns, 10**9)
        ctime = divmod(info.st_ctime_ns, 10**9)
        if (mtime_s, mtime_ns) != mtime or (ctime_s, ctime_ns) != ctime or (mtime_s, mtime_ns) >= self.index_time:
            return False
        if inode != info.st_ino % 2**32 or size != info.st_size % 2**32:
            return False
        if entry.mode == _LINK:
            return stat.S_ISLNK(info.st_mode)
        return stat.S_ISREG(info.st_mode) and (not self.filemode or self._mode(info, entry) == entry.mode)

    def _mode(self, info: os.stat_result, entry: Staged | None) -> str:
        if not self.filemode and entry is not None and entry.mode.startswith("100"):
            return entry.mode
        return "100755" if info.st_mode & stat.S_IXUSR else "100644"

    def _under_folders(self, path: str) -> bool:
        """Whether every folder on the way to `path` is a real folder (git treats a file under a symlink as gone)."""
        parts = path.split("/")[:-1]
        here = ""
        for part in parts:
            here = f"{here}/{part}" if here else part
            known = self._folders.get(here)
            if known is None:
                try:
                    known = stat.S_ISDIR(os.lstat(f"{self.top}/{here}").st_mode)
                except OSError:
                    known = False
                self._folders[here] = known
            if not known:
                return False
        return True

    def _link(self, real: str) -> tuple[str, str]:
        """A symlink as git records it: its target's text, never followed."""
        return _LINK, self.store.blob(os.fsencode(os.readlink(real)))

    def _file(
        self, path: str, real: str, info: os.stat_result, entry: Staged | None, before: tuple[str, str] | None
    ) -> tuple[str, str] | None:
        """A regular file whose stat data says it may have changed: read through the policy, and written to the
        store when it differs from its index entry."""
        mode = _LINK if entry is not None and entry.mode == _LINK else self._mode(info, entry)  # core.symlinks off
        cap = self.job.limits.context_file_bytes
        if info.st_size > cap:  # never read, so its content is not known: unchanged if its size is
            if entry is not None and entry.stat[5] == info.st_size % 2**32:
                return entry.mode, entry.oid
            return self._stand_in(path, info, mode, f"larger than {format_size(cap)} (the cap per file; diff not sent)")
        data = read_bytes(Found(path, real, info.st_size, False, (info.st_dev, info.st_ino)), self.job)
        if isinstance(data, Skip):
            if data.secret:  # a hard link to a secret, a swapped folder: never read
                self.snap.skipped.append(Skip(path, f"not read: {data.reason}", True))
                return before
            if data.reason.startswith("it disappeared"):
                return None
            return self._stand_in(path, info, mode, f"{data.reason} (diff not sent)")
        if b"\r\n" in data and b"\0" not in data:  # git stores LF where autocrlf or an `eol` attribute says so
            plain = data.replace(b"\r\n", b"\n")
            if self.autocrlf or (entry is not None and self.store.id_of(plain) == entry.oid):
                data = plain
        if entry is not None and not entry.flags & _INTENT_TO_ADD and self.store.id_of(data) == entry.oid:
            return mode, entry.oid  # touched, not changed: git has this object already
        total = self.job.limits.context_total_bytes
        if self.kept + len(data) > total:
            return self._stand_in(path, info, mode, f"not kept: the changed files pass {format_size(total)}")
        self.kept += len(data)
        return mode, self.store.blob(data)

    def _stand_in(self, path: str, info: os.stat_result, mode: str, why: str) -> tuple[str, str]:
        """A file whose content is not read: a blob naming it stands in (never sent), and the path is summarised."""
        self.snap.notes[path] = why
        stand_in = f"deepseek-mcp: {path} not read ({info.st_size} bytes, {info.st_mtime_ns})\n"
        return mode, self.store.blob(stand_in.encode("utf-8", "surrogateescape"))
