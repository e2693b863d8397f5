"""The clip index: one SQLite row per clip file, the single truth about what is on disk.

Statuses: `recording` (a `.part` file is being written), `complete` (the final file exists, was fsynced
before its rename, and its size and sha256 are recorded), `failed` (nothing usable; the reason is in
`error`), `deleted` (removed by retention or by hand; the row stays for the audit trail).

Crash safety follows one order: the row is inserted as `recording` before the `.part` file is created;
the final file is written to a temp name, fsynced and renamed; only then is the row marked `complete`.
`recover()` (storage/recovery.py) resolves every `recording` row left by a crash.

Times: `start_s`/`end_s` are on the camera's media clock (epoch seconds live, media seconds in replay);
`created_at` and `finished_at` are wall-clock epoch seconds (retention ages clips by them).
"""

from __future__ import annotations

import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

STATUSES = ("recording", "complete", "failed", "deleted")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS clips (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    event_id TEXT NOT NULL,
    part INTEGER NOT NULL DEFAULT 0,
    camera TEXT NOT NULL,
    window TEXT,
    type TEXT NOT NULL,
    path TEXT NOT NULL UNIQUE,
    snapshot TEXT,
    start_s REAL,
    end_s REAL,
    duration_s REAL,
    size_bytes INTEGER NOT NULL DEFAULT 0,
    sha256 TEXT,
    status TEXT NOT NULL CHECK (status IN ('recording', 'complete', 'failed', 'deleted')),
    keep INTEGER NOT NULL DEFAULT 0,
    recovered INTEGER NOT NULL DEFAULT 0,
    error TEXT,
    created_at REAL NOT NULL,
    finished_at REAL
);
CREATE INDEX IF NOT EXISTS clips_event ON clips(event_id);
CREATE INDEX IF NOT EXISTS clips_status ON clips(status, created_at);
"""


@dataclass(frozen=True)
class ClipRecord:
    """One row of the index. `path` and `snapshot` are relative to the index's clip directory."""

    id: int
    event_id: str
    part: int
    camera: str
    window: str | None
    type: str
    path: str
    snapshot: str | None
    start_s: float | None
    end_s: float | None
    duration_s: float | None
    size_bytes: int
    sha256: str | None
    status: str
    keep: bool
    recovered: bool
    error: str | None
    created_at: float
    finished_at: float | None

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> ClipRecord:
        d = dict(row)
        d["keep"], d["recovered"] = bool(d["keep"]), bool(d["recovered"])
        return cls(**d)


class ClipIndex:
    """SQLite clip index in `<dir>/clips.sqlite` (WAL, synchronous=FULL). Thread-safe: one connection
    guarded by a lock, so the recorder and the uploader thread may share it."""

    def __init__(self, clip_dir: str | Path, *, db_name: str = "clips.sqlite") -> None:
        self.dir = Path(clip_dir)
        try:
            self.dir.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise OSError(f"clip dir {self.dir}: cannot create it ({e.strerror}); set clips.dir") from e
        self.db_path = self.dir / db_name
        self._lock = threading.RLock()
        self._db = sqlite3.connect(self.db_path, check_same_thread=False, isolation_level=None)
        self._db.row_factory = sqlite3.Row
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.executescript(_SCHEMA)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def _exec(self, sql: str, args: tuple[Any, ...] = ()) -> sqlite3.Cursor:
        with self._lock:
            return self._db.execute(sql, args)

    def execute(self, sql: str, args: tuple[Any, ...] = ()) -> list[sqlite3.Row]:
        """Run one statement on the index database (for companions such as the upload queue)."""
        with self._lock:
            return self._db.execute(sql, args).fetchall()

    def executescript(self, sql: str) -> None:
        with self._lock:
            self._db.executescript(sql)

    # --- writing -------------------------------------------------------------------------------------
    def begin(self, *, event_id: str, part: int, camera: str, window: str | None, type: str, path: str,
              start_s: float | None, now: float | None = None) -> int:
        """Insert a `recording` row (before the file exists) and return its id."""
        cur = self._exec(
            "INSERT INTO clips (event_id, part, camera, window, type, path, start_s, status, created_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, 'recording', ?)",
            (event_id, part, camera, window, type, path, start_s, time.time() if now is None else now))
        return int(cur.lastrowid)

    def complete(self, clip_id: int, *, start_s: float | None, end_s: float | None, size_bytes: int,
                 sha256: str, recovered: bool = False, error: str | None = None) -> None:
        dur = None if start_s is None or end_s is None else max(0.0, end_s - start_s)
        self._exec("UPDATE clips SET status='complete', start_s=?, end_s=?, duration_s=?, size_bytes=?, "
                   "sha256=?, recovered=?, error=?, finished_at=? WHERE id=?",
                   (start_s, end_s, dur, size_bytes, sha256, int(recovered), error, time.time(), clip_id))

    def fail(self, clip_id: int, error: str) -> None:
        self._exec("UPDATE clips SET status='failed', error=?, finished_at=? WHERE id=?",
                   (error[:500], time.time(), clip_id))

    def mark_deleted(self, clip_id: int, reason: str) -> None:
        self._exec("UPDATE clips SET status='deleted', error=? WHERE id=?", (reason, clip_id))

    def set_snapshot(self, clip_id: int, snapshot: str) -> None:
        self._exec("UPDATE clips SET snapshot=? WHERE id=?", (snapshot, clip_id))

    def set_keep(self, event_id: str, keep: bool = True) -> int:
        """Mark every clip of an incident "keep" (a supervisor's decision); returns rows changed."""
        return self._exec("UPDATE clips SET keep=? WHERE event_id=?", (int(keep), event_id)).rowcount

    # --- reading -------------------------------------------------------------------------------------
    def get(self, clip_id: int) -> ClipRecord | None:
        row = self._exec("SELECT * FROM clips WHERE id=?", (clip_id,)).fetchone()
        return None if row is None else ClipRecord.from_row(row)

    def by_event(self, event_id: str) -> list[ClipRecord]:
        rows = self._exec("SELECT * FROM clips WHERE event_id=? ORDER BY part, id", (event_id,)).fetchall()
        return [ClipRecord.from_row(r) for r in rows]

    def list(self, status: str | None = None) -> list[ClipRecord]:
        """Clips oldest first, optionally of one status."""
        if status is not None and status not in STATUSES:
            raise ValueError(f"clip status {status!r}: expected one of {STATUSES}")
        if status is None:
            rows = self._exec("SELECT * FROM clips ORDER BY created_at, id").fetchall()
        else:
            rows = self._exec("SELECT * FROM clips WHERE status=? ORDER BY created_at, id",
                              (status,)).fetchall()
        return [ClipRecord.from_row(r) for r in rows]

    def complete_bytes(self) -> int:
        """Bytes held by complete clips (files only; snapshots are small and counted by retention)."""
        row = self._exec("SELECT COALESCE(SUM(size_bytes), 0) FROM clips WHERE status='complete'").fetchone()
        return int(row[0])

    def counts(self) -> dict[str, int]:
        rows = self._exec("SELECT status, COUNT(*) FROM clips GROUP BY status").fetchall()
        return {s: 0 for s in STATUSES} | {r[0]: int(r[1]) for r in rows}

    def abspath(self, rel: str) -> Path:
        return self.dir / rel
