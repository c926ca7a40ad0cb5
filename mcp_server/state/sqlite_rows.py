"""The SQL of the SQLite store: its schema, a cost recorded, a conversation's row (its body only when it changed),
and saving with the eviction rule of base.py, each run by sqlite.py inside one transaction on its worker thread."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from mcp_server.core.config import STATE_ENV
from mcp_server.state.base import Bounds, Cost, Record, StoreError, digest

SCHEMA = """
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


def read(db: sqlite3.Connection, path: Path, conversation_id: str, oldest: float, known: str | None) -> Record | None:
    """The conversation's row, its body left out (empty) when its digest is `known`."""
    row = db.execute(
        "SELECT id, owner, size, touched, CASE WHEN ?1 IS NULL THEN body WHEN digest(body) = ?1 THEN ''"
        " ELSE body END FROM conversations WHERE id = ?2 AND touched >= ?3",
        (known, conversation_id, oldest),
    ).fetchone()
    if row is None:
        return None
    cid, owner, size, touched, body = row
    if not (isinstance(owner, str) and isinstance(size, int) and isinstance(body, str)) or not isinstance(
        touched, float | int
    ):
        raise StoreError(
            f"the conversation {conversation_id!r} in the state file {path} has fields of the wrong "
            f"types (written by another program or damaged); start a new conversation, or set {STATE_ENV} "
            "to a file only deepseek-mcp writes"
        )
    return Record(cid, owner, size, float(touched), body)


def owner(db: sqlite3.Connection, conversation_id: str, oldest: float) -> str | None:
    row = db.execute(
        "SELECT owner FROM conversations WHERE id = ? AND touched >= ?",
        (conversation_id, oldest),
    ).fetchone()
    return row[0] if row is not None and isinstance(row[0], str) else None


def save(db: sqlite3.Connection, record: Record, b: Bounds) -> None:
    """Store `record`, dropping idle conversations and evicting others past the bounds (base.py); raises NotKept
    (the transaction is rolled back) when only other owners' conversations could make room."""
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
            raise NotKept  # rolled back: the saver holds the most and only this


def spend(db: sqlite3.Connection, cost: Cost) -> None:
    db.execute(
        "INSERT INTO spending VALUES (?, ?, ?, ?, ?, 1) ON CONFLICT (owner, day, tool) DO UPDATE SET"
        " usd = usd + excluded.usd, saved = saved + excluded.saved, calls = calls + 1",
        (cost.owner, cost.day, cost.tool, cost.usd, cost.saved),
    )


def digest_of(body: object) -> str | None:
    return digest(body) if isinstance(body, str) else None  # a body of another type is refused by `_read`


class NotKept(Exception):
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
