"""An on-disk outbox for events: SQLite in WAL mode, one row per message, removed only when the broker has
acknowledged it (PUBACK).

Rows carry an AUTOINCREMENT id, so ids are never reused and draining by id keeps the publish order across
restarts of the node. Size policy (bounded, named, counted): at `max_events` rows a new message first
evicts the oldest queued `update` event (a later update or the end supersedes it), and when none is queued,
the oldest row of any state. Evictions are logged and counted in `dropped`.

Thread-safe: one connection guarded by a lock (the publisher's sender thread appends and reads, paho's
network thread deletes on PUBACK).
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS outbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    topic TEXT NOT NULL,
    payload BLOB NOT NULL,
    state TEXT NOT NULL,
    created REAL NOT NULL
);
"""


@dataclass(frozen=True)
class OutboxRow:
    id: int
    topic: str
    payload: bytes
    state: str


class Outbox:
    """Persistent FIFO of (topic, payload) messages.

    Args:
        path: SQLite file; its folder is created. The same file reopened after a restart gives the rows
            back in the order they were put.
        max_events: bound on queued rows (see the module docstring for what goes when full).
        sync: SQLite `synchronous` mode, "full" (survives power loss) or "normal" (survives a crash).
    """

    def __init__(self, path: str | Path, *, max_events: int = 100_000, sync: str = "full") -> None:
        if max_events < 1:
            raise ValueError(f"outbox max_events must be >= 1, got {max_events}")
        if sync not in ("full", "normal"):
            raise ValueError(f"outbox sync must be 'full' or 'normal', got {sync!r}")
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.max_events = max_events
        self.dropped = 0
        self._lock = threading.Lock()
        try:
            self._db = sqlite3.connect(str(self.path), check_same_thread=False, isolation_level=None)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute(f"PRAGMA synchronous={sync.upper()}")
            self._db.execute("PRAGMA busy_timeout=5000")
            self._db.executescript(_SCHEMA)
        except sqlite3.Error as exc:
            raise ValueError(f"outbox {self.path}: cannot open ({exc})") from None
        self._count = self._db.execute("SELECT COUNT(*) FROM outbox").fetchone()[0]

    def put(self, topic: str, payload: bytes, state: str, created: float) -> int:
        """Append one message (durable when this returns); returns its row id."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                while self._count >= self.max_events:
                    self._evict_one()
                cur = self._db.execute("INSERT INTO outbox (topic, payload, state, created) VALUES (?,?,?,?)",
                                       (topic, payload, state, created))
                self._db.execute("COMMIT")
            except sqlite3.Error:
                self._db.execute("ROLLBACK")
                raise
            self._count += 1
            return int(cur.lastrowid)

    def _evict_one(self) -> None:
        row = self._db.execute("SELECT id FROM outbox WHERE state='update' ORDER BY id LIMIT 1").fetchone()
        if row is None:
            row = self._db.execute("SELECT id FROM outbox ORDER BY id LIMIT 1").fetchone()
        self._db.execute("DELETE FROM outbox WHERE id=?", (row[0],))
        self._count -= 1
        self.dropped += 1
        log.warning("outbox %s full (%d rows): dropped row %d (%d dropped so far)", self.path,
                    self.max_events, row[0], self.dropped)

    def peek(self, after_id: int = 0, limit: int = 100) -> list[OutboxRow]:
        """Up to `limit` oldest rows with id > after_id, in order."""
        with self._lock:
            rows = self._db.execute("SELECT id, topic, payload, state FROM outbox WHERE id>? ORDER BY id LIMIT ?",
                                    (after_id, limit)).fetchall()
        return [OutboxRow(int(r[0]), r[1], bytes(r[2]), r[3]) for r in rows]

    def delete(self, row_id: int) -> None:
        """Remove an acknowledged row (a second delete of the same id is a no-op)."""
        with self._lock:
            n = self._db.execute("DELETE FROM outbox WHERE id=?", (row_id,)).rowcount
            self._count -= n

    def __len__(self) -> int:
        return self._count

    def close(self) -> None:
        with self._lock:
            self._db.close()
