"""The embedded backend: one SQLite file (WAL, busy timeout) that every server process of the user shares.

The file is created private (0600; SQLite gives its -wal and -shm files the same mode) in a folder created private
(0700). Each step is one transaction (`BEGIN IMMEDIATE`, so two processes never both decide on stale counts), run
on a worker thread: the event loop never waits on the disk or on another process's transaction.

A conversation's lock is a POSIX record lock on one byte of a lock file beside the database (the byte chosen by a
hash of the id, among 2^31): the kernel frees it when its holder dies, so it cannot outlive a crashed server. Two
calls in one process take an in-process lock first (record locks belong to the process, not the caller).
"""

from __future__ import annotations

import hashlib
import secrets
import sqlite3
import threading
import time
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, TypeVar

import anyio

from mcp_server.core.config import STATE_ENV
from mcp_server.state import file_locks
from mcp_server.state import sqlite_rows as rows
from mcp_server.state.base import HOLD_SECONDS, Bounds, Claimed, Cost, Record, Spent, StoreError
from mcp_server.state.sqlite_file import explain, private_file

BUSY_TIMEOUT_MS = 5000
_LOCK_POLL = 0.01  # seconds between tries while another process holds a conversation
_T = TypeVar("_T")


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
            private_file(self._path)
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
            db.create_function("digest", 1, rows.digest_of, deterministic=True)
            db.execute(f"PRAGMA busy_timeout = {int(self._busy_ms)}")
            db.execute("PRAGMA journal_mode = WAL")
            db.execute("PRAGMA synchronous = NORMAL")  # with WAL: a crash of the process loses nothing committed
            db.executescript(rows.SCHEMA)
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
                    raise explain(self._path, exc, self._busy_ms) from exc

        return await anyio.to_thread.run_sync(run, limiter=self._limiter)

    # --- conversations ---------------------------------------------------------------------------------------

    async def load(self, conversation_id: str, now: float) -> Record | None:
        def step(db: sqlite3.Connection) -> Record | None:
            return rows.read(db, self._path, conversation_id, now - self._bounds.idle_seconds, None)

        return await self._run(step, write=False)

    async def save(self, record: Record) -> bool:
        try:
            await self._run(lambda db: rows.save(db, record, self._bounds))
        except rows.NotKept:
            return False
        return True

    @asynccontextmanager
    async def lock(self, conversation_id: str) -> AsyncIterator[None]:
        await self._take(conversation_id)
        try:
            yield
        finally:
            self._free(conversation_id)

    async def claim(self, conversation_id: str, owner: str, now: float, known: str | None) -> Claimed | None:
        key = self._key(conversation_id)
        oldest = now - self._bounds.idle_seconds
        while not file_locks.IN_PROCESS.try_take(key):
            # Another call of this process holds it: its owner is checked before waiting, and absence is judged
            # only under the lock (a first save may be under way).
            found = await self._run(lambda db: rows.owner(db, conversation_id, oldest), write=False)
            if found is not None and not secrets.compare_digest(found, owner):
                return None
            await file_locks.IN_PROCESS.wait(key)
        try:
            return await self._claim_held(conversation_id, owner, now, known)
        except BaseException:
            file_locks.IN_PROCESS.free(key)
            raise

    async def _claim_held(self, conversation_id: str, owner: str, now: float, known: str | None) -> Claimed | None:
        """With the process's lock held: the file's lock and the row in one hop to the worker thread, tried again
        while another process holds the file's lock on a conversation of this owner (or on one being saved)."""
        offset = _offset(conversation_id)
        held: dict[str, Any] = {"fd": None}

        def step(db: sqlite3.Connection) -> Record | None:
            if held["fd"] is None and file_locks.try_lock(self._lock_fd, offset):  # type: ignore[arg-type]
                held["fd"] = self._lock_fd
            return rows.read(db, self._path, conversation_id, now - self._bounds.idle_seconds, known)

        try:
            while True:
                found = await self._run(step, write=False)
                mine = found is not None and secrets.compare_digest(found.owner, owner)
                if (found is not None and not mine) or (found is None and held["fd"] is not None):
                    if held.pop("fd") is not None:
                        file_locks.unlock(self._lock_fd, offset)  # type: ignore[arg-type]
                    file_locks.IN_PROCESS.free(self._key(conversation_id))
                    return None
                if held["fd"] is not None and found is not None:
                    same = known is not None and not found.body
                    return Claimed(conversation_id, "", None if same else found)
                await anyio.sleep(_LOCK_POLL)
        except BaseException:
            if held.get("fd") is not None:
                file_locks.unlock(held["fd"], offset)
            raise

    async def claim_new(self, conversation_id: str, owner: str) -> Claimed:
        await self._take(conversation_id)
        return Claimed(conversation_id, "")

    async def unclaim(self, claimed: Claimed, record: Record | None, costs: Sequence[Cost] = ()) -> bool:
        def step(db: sqlite3.Connection) -> bool:
            for cost in costs:
                rows.spend(db, cost)
            if record is None:
                return True
            db.execute("SAVEPOINT save")  # a save refused rolls back to here: the costs stay recorded
            try:
                rows.save(db, record, self._bounds)
            except rows.NotKept:
                db.execute("ROLLBACK TO save")
                return False
            db.execute("RELEASE save")
            return True

        try:
            return await self._run(step) if record is not None or costs else True
        finally:
            self._free(claimed.id)

    async def keep_claims(self) -> None:
        return None

    def _key(self, conversation_id: str) -> str:
        return f"{self._path}\n{conversation_id}"

    async def _take(self, conversation_id: str) -> None:
        """The process's lock, then the file's (another process holds it: no event crosses processes, and a
        blocking wait would pin a thread)."""
        key = self._key(conversation_id)
        await file_locks.IN_PROCESS.take(key)
        try:
            fd = self._lock_fd
            if fd is None:
                fd = await anyio.to_thread.run_sync(self._lock_file, limiter=self._limiter)
            while not file_locks.try_lock(fd, _offset(conversation_id)):  # noqa: ASYNC110
                await anyio.sleep(_LOCK_POLL)
        except BaseException:
            file_locks.IN_PROCESS.free(key)
            raise

    def _free(self, conversation_id: str) -> None:
        if self._lock_fd is not None:
            file_locks.unlock(self._lock_fd, _offset(conversation_id))
        file_locks.IN_PROCESS.free(self._key(conversation_id))

    def _lock_file(self) -> int:
        with self._guard:
            if self._lock_fd is None:
                try:
                    self._connect()  # makes the private folder and opens the lock file
                except (sqlite3.Error, OSError) as exc:
                    raise explain(self._path, exc, self._busy_ms) from exc
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
            rows.spend(db, Cost(owner, day, tool, usd, saved))
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


def _offset(conversation_id: str) -> int:
    """The byte of the lock file that stands for a conversation (one of 2^31, below the opening lock's)."""
    return int.from_bytes(hashlib.sha256(conversation_id.encode()).digest()[:4], "big") >> 1
