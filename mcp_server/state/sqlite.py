"""The embedded backend: one SQLite file (WAL, busy timeout) that every server process of the user shares.

The file is created private (0600; SQLite gives its -wal and -shm files the same mode) in a folder created private
(0700). Each step is one transaction (`BEGIN IMMEDIATE`, so two processes never both decide on stale counts), run
on a worker thread: the event loop never waits on the disk or on another process's transaction.

A conversation's lock is a POSIX record lock on one byte of a lock file beside the database (the byte chosen by a
hash of the id, among 2^31): the kernel frees it when its holder dies, so it cannot outlive a crashed server. Two
calls in one process take an in-process lock first (record locks belong to the process, not the caller).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import sqlite3
import stat
import sys
import threading
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TypeVar

import anyio

from mcp_server.core.config import STATE_ENV
from mcp_server.state import file_locks
from mcp_server.state.base import HOLD_SECONDS, Bounds, Record, Spent, StoreError

BUSY_TIMEOUT_MS = 5000
_LOCK_POLL = 0.01  # seconds between tries while another process holds a conversation
_T = TypeVar("_T")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS conversations (
    id TEXT PRIMARY KEY, owner TEXT NOT NULL, size INTEGER NOT NULL, touched REAL NOT NULL, body TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS conversations_by_age ON conversations (touched);
CREATE INDEX IF NOT EXISTS conversations_by_owner ON conversations (owner, touched);
CREATE TABLE IF NOT EXISTS spending (
    owner TEXT NOT NULL, day TEXT NOT NULL, tool TEXT NOT NULL, usd REAL NOT NULL, saved REAL NOT NULL,
    calls INTEGER NOT NULL, PRIMARY KEY (owner, day, tool));
CREATE TABLE IF NOT EXISTS holds (
    id TEXT PRIMARY KEY, owner TEXT NOT NULL, day TEXT NOT NULL, usd REAL NOT NULL, expires REAL NOT NULL);
"""


class SqliteStore:
    """Conversations and spending in one SQLite file."""

    def __init__(self, path: Path, bounds: Bounds, busy_ms: int = BUSY_TIMEOUT_MS) -> None:
        self._path = path
        self._busy_ms = busy_ms
        self._bounds = bounds
        self._db: sqlite3.Connection | None = None
        self._guard = threading.Lock()
        self._limiter = anyio.CapacityLimiter(1)
        self._lock_fd: int | None = None

    @property
    def name(self) -> str:
        return str(self._path)

    # --- opening ---------------------------------------------------------------------------------------------

    def _connect(self) -> sqlite3.Connection:
        if self._db is None:
            _private_file(self._path)
            if self._lock_fd is None:
                self._lock_fd = file_locks.open_lock_file(self._path.with_name(self._path.name + ".locks"))
            # Switching to WAL and creating the tables answer SQLITE_BUSY without waiting when another process does
            # the same at that moment: openings take turns on a byte of the lock file past the conversations' range.
            with file_locks.INIT_GUARD:
                self._wait_for_opening(self._lock_fd)
                try:
                    self._db = self._open_db()
                finally:
                    file_locks.unlock(self._lock_fd, file_locks.INIT_BYTE)
        return self._db

    def _wait_for_opening(self, fd: int) -> None:
        """The opening lock, tried until the busy timeout: a process stopped while opening (Ctrl-Z, a debugger, a
        hung network disk) must not hold this one, or its calls, for good."""
        deadline = time.monotonic() + self._busy_ms / 1000
        while not file_locks.try_lock(fd, file_locks.INIT_BYTE):
            if time.monotonic() > deadline:
                raise StoreError(
                    f"another process has been opening the state file {self._path} for over "
                    f"{self._busy_ms / 1000:g} s (it holds a lock on {self._path.name}.locks): stop or resume it, "
                    f"or set {STATE_ENV} to another file (or `memory`)"
                )
            time.sleep(_LOCK_POLL)

    def _open_db(self) -> sqlite3.Connection:
        db = sqlite3.connect(self._path, timeout=self._busy_ms / 1000, isolation_level=None, check_same_thread=False)
        try:
            db.execute(f"PRAGMA busy_timeout = {int(self._busy_ms)}")
            db.execute("PRAGMA journal_mode = WAL")
            db.execute("PRAGMA synchronous = NORMAL")  # with WAL: a crash of the process loses nothing committed
            db.executescript(_SCHEMA)
        except BaseException:
            db.close()
            raise
        return db

    async def _run(self, step: Callable[[sqlite3.Connection], _T], *, write: bool = True) -> _T:
        """`step` in one transaction on a worker thread; a read runs as one statement, on a snapshot."""

        def run() -> _T:
            with self._guard:
                try:
                    db = self._connect()
                    if not write:
                        return step(db)
                    db.execute("BEGIN IMMEDIATE")
                    try:
                        out = step(db)
                    except BaseException:
                        db.execute("ROLLBACK")
                        raise
                    db.execute("COMMIT")
                    return out
                except (sqlite3.Error, OSError) as exc:
                    raise _explain(self._path, exc, self._busy_ms) from exc

        return await anyio.to_thread.run_sync(run, limiter=self._limiter)

    # --- conversations ---------------------------------------------------------------------------------------

    async def load(self, conversation_id: str, now: float) -> Record | None:
        def step(db: sqlite3.Connection) -> Record | None:
            row = db.execute(
                "SELECT id, owner, size, touched, body FROM conversations WHERE id = ? AND touched >= ?",
                (conversation_id, now - self._bounds.idle_seconds),
            ).fetchone()
            if row is None:
                return None
            cid, owner, size, touched, body = row
            if not (isinstance(owner, str) and isinstance(size, int) and isinstance(body, str)) or not isinstance(
                touched, float | int
            ):
                raise StoreError(
                    f"the conversation {conversation_id!r} in the state file {self._path} has fields of the wrong "
                    f"types (written by another program or damaged); start a new conversation, or set {STATE_ENV} "
                    "to a file only deepseek-mcp writes"
                )
            return Record(cid, owner, size, float(touched), body)

        return await self._run(step, write=False)

    async def save(self, record: Record) -> bool:
        b = self._bounds

        def step(db: sqlite3.Connection) -> None:
            db.execute("DELETE FROM conversations WHERE touched < ?", (record.touched - b.idle_seconds,))
            db.execute(
                "INSERT OR REPLACE INTO conversations VALUES (?, ?, ?, ?, ?)",
                (record.id, record.owner, record.size, record.touched, record.body),
            )
            while True:
                count, size = db.execute(
                    "SELECT count(*), coalesce(sum(size), 0) FROM conversations WHERE owner = ?", (record.owner,)
                ).fetchone()
                if not (count > b.owner_count or (size > b.owner_bytes and count > 1)):
                    break
                _drop_oldest(db, record, record.owner)
            while True:
                count, size = db.execute("SELECT count(*), coalesce(sum(size), 0) FROM conversations").fetchone()
                if not (count > b.count or (size > b.total_bytes and count > 1)):
                    break
                measure = "sum(size)" if count <= b.count else "count(*)"
                largest = db.execute(
                    f"SELECT owner FROM conversations GROUP BY owner ORDER BY {measure} DESC LIMIT 1"  # noqa: S608
                ).fetchone()[0]
                if not _drop_oldest(db, record, largest):
                    raise _NotKept  # rolled back: the saver holds the most and only this

        try:
            await self._run(step)
        except _NotKept:
            return False
        return True

    @asynccontextmanager
    async def lock(self, conversation_id: str) -> AsyncIterator[None]:
        async with file_locks.IN_PROCESS.lock(f"{self._path}\n{conversation_id}"):
            fd = self._lock_fd
            if fd is None:
                fd = await anyio.to_thread.run_sync(self._lock_file, limiter=self._limiter)
            offset = int.from_bytes(hashlib.sha256(conversation_id.encode()).digest()[:4], "big") >> 1
            # Another process holds it: no event crosses processes, and a blocking wait would pin a thread.
            while not file_locks.try_lock(fd, offset):  # noqa: ASYNC110
                await anyio.sleep(_LOCK_POLL)
            try:
                yield
            finally:
                file_locks.unlock(fd, offset)

    def _lock_file(self) -> int:
        with self._guard:
            if self._lock_fd is None:
                try:
                    self._connect()  # makes the private folder and opens the lock file
                except (sqlite3.Error, OSError) as exc:
                    raise _explain(self._path, exc, self._busy_ms) from exc
            assert self._lock_fd is not None
            return self._lock_fd

    # --- spending --------------------------------------------------------------------------------------------

    async def hold(self, owner: str, day: str, hold_id: str, usd: float, limit: float, now: float) -> float | None:
        def step(db: sqlite3.Connection) -> float | None:
            db.execute("DELETE FROM holds WHERE expires < ?", (now,))
            (already,) = db.execute(
                "SELECT (SELECT coalesce(sum(usd), 0) FROM spending WHERE owner = ?1 AND day = ?2)"
                " + (SELECT coalesce(sum(usd), 0) FROM holds WHERE owner = ?1 AND day = ?2)",
                (owner, day),
            ).fetchone()
            if already + usd > limit:
                return float(already)
            db.execute("INSERT INTO holds VALUES (?, ?, ?, ?, ?)", (hold_id, owner, day, usd, now + HOLD_SECONDS))
            return None

        return await self._run(step)

    async def spend(self, owner: str, day: str, tool: str, usd: float, saved: float, hold_id: str | None) -> None:
        def step(db: sqlite3.Connection) -> None:
            db.execute(
                "INSERT INTO spending VALUES (?, ?, ?, ?, ?, 1) ON CONFLICT (owner, day, tool) DO UPDATE SET"
                " usd = usd + excluded.usd, saved = saved + excluded.saved, calls = calls + 1",
                (owner, day, tool, usd, saved),
            )
            if hold_id is not None:
                db.execute("DELETE FROM holds WHERE id = ?", (hold_id,))

        await self._run(step)

    async def release(self, owner: str, day: str, hold_id: str) -> None:
        await self._run(lambda db: db.execute("DELETE FROM holds WHERE id = ?", (hold_id,)))

    async def spent(self, owner: str, days: list[str]) -> list[Spent]:
        def step(db: sqlite3.Connection) -> list[Spent]:
            marks = ",".join("?" * len(days))
            rows = db.execute(
                f"SELECT day, tool, usd, saved, calls FROM spending WHERE owner = ? AND day IN ({marks})",  # noqa: S608
                (owner, *days),
            ).fetchall()
            return [Spent(*row) for row in rows]

        return await self._run(step, write=False)

    async def stats(self) -> tuple[int, int]:
        def step(db: sqlite3.Connection) -> tuple[int, int]:
            count, size = db.execute("SELECT count(*), coalesce(sum(size), 0) FROM conversations").fetchone()
            return int(count), int(size)

        return await self._run(step, write=False)

    async def aclose(self) -> None:
        # On a worker thread: a step may hold the guard for up to the busy timeout, and the loop must not wait on it.
        with anyio.CancelScope(shield=True):
            await anyio.to_thread.run_sync(self._close, limiter=self._limiter)

    def _close(self) -> None:
        with self._guard:
            if self._db is not None:
                self._db.close()
                self._db = None
            if self._lock_fd is not None:
                file_locks.close_lock_file(self._path.with_name(self._path.name + ".locks"))
                self._lock_fd = None


class _NotKept(Exception):
    """A save that could make room only from other owners' conversations."""


def _drop_oldest(db: sqlite3.Connection, kept: Record, owner: str) -> bool:
    """Drop the owner's least recently used conversation other than `kept`; False when it has none."""
    row = db.execute(
        "SELECT id FROM conversations WHERE owner = ? AND id != ? ORDER BY touched LIMIT 1", (owner, kept.id)
    ).fetchone()
    if row is None:
        return False
    db.execute("DELETE FROM conversations WHERE id = ?", (row[0],))
    return True


_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_SIDE_FILES = ("-wal", "-shm", "-journal", ".locks")


def _private_file(path: Path) -> None:
    """Create the folder (0700, only the levels made here) and the file (0600) before SQLite opens it; refuse a
    folder any user may write, and a symlink, a non-file or another user's file at the path or beside it (the -wal,
    -shm and .locks files); make an existing file readable by others private."""
    missing = [p for p in (path.parent, *path.parent.parents) if not p.exists()]
    for folder in reversed(missing):
        with contextlib.suppress(FileExistsError):  # another server made it at the same moment
            folder.mkdir(mode=0o700)
    parent = path.parent.stat()
    if sys.platform != "win32" and parent.st_mode & stat.S_IWOTH:
        raise OSError(
            f"its folder {path.parent} may be written by every user, who could replace the file or plant a link "
            "there; use a file in a folder of your own"
        )
    for side in (path, *(path.with_name(path.name + suffix) for suffix in _SIDE_FILES)):
        _check_own(side)
    fd = os.open(path, os.O_RDWR | os.O_CREAT | _NOFOLLOW | getattr(os, "O_BINARY", 0), 0o600)
    try:
        if sys.platform != "win32" and os.fstat(fd).st_mode & 0o077:
            os.fchmod(fd, 0o600)
    finally:
        os.close(fd)
    for side in (path.with_name(path.name + suffix) for suffix in ("-wal", "-shm")):
        with contextlib.suppress(FileNotFoundError):
            if sys.platform != "win32" and side.lstat().st_mode & 0o077:
                os.chmod(side, 0o600, follow_symlinks=False)


def _check_own(path: Path) -> None:
    """Refuse a symlink, anything but a regular file, or a file another user owns, at `path` (absent is fine)."""
    try:
        found = path.lstat()
    except FileNotFoundError:
        return
    if stat.S_ISLNK(found.st_mode):
        raise OSError(f"{path} is a symbolic link; the state is never written through one: remove it")
    if not stat.S_ISREG(found.st_mode):
        raise OSError(f"{path} is not a regular file: remove it")
    if hasattr(os, "getuid") and found.st_uid != os.getuid():
        raise OSError(f"{path} belongs to another user (uid {found.st_uid}): remove it or use a file of your own")


def _explain(path: Path, exc: BaseException, busy_ms: int) -> StoreError:
    """What went wrong with the file, and what to do, naming the variable."""
    text = str(exc)
    if "locked" in text or "busy" in text:
        return StoreError(
            f"the state file {path} stayed locked by another process for {busy_ms / 1000:g} s ({text}); "
            f"try again, or stop the process holding it, or set {STATE_ENV} to another file (or `memory`)"
        )
    if (
        isinstance(exc, sqlite3.DatabaseError) and not isinstance(exc, sqlite3.OperationalError)
    ) or "malformed" in text:
        return StoreError(
            f"the state file {path} is not a readable SQLite database ({text}): move it aside (its conversations and "
            f"spending records are lost) and the server makes a new one, or set {STATE_ENV} to another file"
        )
    return StoreError(f"the state file {path} cannot be used ({text}); fix it or set {STATE_ENV} to another file")
