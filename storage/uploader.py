"""Upload finished clips and snapshots to the central service, in the background, losing nothing.

Why upload (and not serve clips from the edge): the central service already holds the users, roles,
login and the audit log, so one place decides who may watch a clip and records every view; edge nodes
sit on the hall's LAN, often unreachable from where supervisors are, and would each need their own
credentials, TLS and audit trail. The node only needs one outbound HTTPS client and a `node` token.

Contract (central service): `POST <url>/api/clips`, multipart fields `event_id`, `kind` ("video" or
"snapshot"), `sha256` (hex of the file) and `file`; header `Authorization: Bearer <token>` of a user with
role `node`; answers 201 `{"url": "/clips/<id>"}` (200 is taken as "already have it").

The queue is a table in the clip index's SQLite file, so an outage or a restart loses nothing: each row
is retried with exponential backoff (1 s doubling up to `retry_max_s`) on connection errors, timeouts,
408, 429 and 5xx; other 4xx answers (bad token, bad request) are permanent and logged as errors. A
worker thread does all network I/O: `enqueue()` is one SQLite insert and never waits on the network.
Finished uploads are handed back through `drain_done()` (the frame loop then sends the event `update`
with the clip URL).
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from storage.clip_writer import file_sha256
from storage.config import ClipUploadConfig
from storage.index import ClipIndex, ClipRecord

log = logging.getLogger(__name__)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS uploads (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    clip_id INTEGER NOT NULL,
    event_id TEXT NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('video', 'snapshot')),
    path TEXT NOT NULL,
    sha256 TEXT,
    status TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'done', 'failed')),
    attempts INTEGER NOT NULL DEFAULT 0,
    next_at REAL NOT NULL DEFAULT 0,
    url TEXT,
    error TEXT,
    UNIQUE (clip_id, kind)
);
"""
RETRY_STATUS = {408, 429}
MIME = {"video": "video/mp4", "snapshot": "image/jpeg"}


@dataclass(frozen=True)
class UploadDone:
    clip_id: int
    event_id: str
    kind: str
    url: str


def read_token(token_file: str | Path) -> str:
    try:
        token = Path(token_file).read_text().strip()
    except OSError as e:
        raise ValueError(f"clips.upload.token_file {token_file}: cannot read it ({e.strerror})") from e
    if not token:
        raise ValueError(f"clips.upload.token_file {token_file}: the file is empty")
    return token


class ClipUploader:
    """Background uploader. Call `start()`, then `enqueue(record)` per finished clip; `stop()` at exit."""

    def __init__(self, cfg: ClipUploadConfig, index: ClipIndex, *, token: str | None = None,
                 poll_s: float = 1.0) -> None:
        self.cfg, self.index = cfg, index
        self._token = token if token is not None else read_token(cfg.token_file)
        self._poll_s = poll_s
        index.executescript(_SCHEMA)
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._done: list[UploadDone] = []
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self.stats = {"uploaded": 0, "retries": 0, "failed": 0, "bytes": 0}

    def enqueue(self, rec: ClipRecord) -> None:
        """Queue a complete clip's video and, if it has one, its snapshot."""
        items = [("video", rec.path, rec.sha256)]
        if rec.snapshot:
            items.append(("snapshot", rec.snapshot, None))
        for kind, path, digest in items:
            self.index.execute("INSERT OR IGNORE INTO uploads (clip_id, event_id, kind, path, sha256) "
                               "VALUES (?, ?, ?, ?, ?)", (rec.id, rec.event_id, kind, path, digest))
        self._wake.set()

    def pending(self) -> int:
        return int(self.index.execute("SELECT COUNT(*) FROM uploads WHERE status='pending'")[0][0])

    def pending_event_ids(self) -> set[str]:
        """Incidents with uploads still queued: pass them to retention as protected."""
        rows = self.index.execute("SELECT DISTINCT event_id FROM uploads WHERE status='pending'")
        return {r[0] for r in rows}

    def drain_done(self) -> list[UploadDone]:
        with self._lock:
            out, self._done = self._done, []
        return out

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="clip-uploader", daemon=True)
        self._thread.start()

    def stop(self, timeout_s: float = 10.0) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout_s)

    # --- worker -------------------------------------------------------------------------------------
    def _run(self) -> None:
        with httpx.Client(base_url=self.cfg.url, timeout=self.cfg.timeout_s,
                          headers={"Authorization": f"Bearer {self._token}"}) as client:
            while not self._stop.is_set():
                row = self._next_due()
                if row is None:
                    self._wake.wait(self._poll_s)
                    self._wake.clear()
                    continue
                self._upload(client, row)

    def _next_due(self) -> dict | None:
        rows = self.index.execute("SELECT * FROM uploads WHERE status='pending' AND next_at <= ? "
                                  "ORDER BY id LIMIT 1", (time.time(),))
        return dict(rows[0]) if rows else None

    def _upload(self, client: httpx.Client, row: dict) -> None:
        path = self.index.abspath(row["path"])
        if row["kind"] == "snapshot" and not row["sha256"] and path.is_file():
            row["sha256"] = file_sha256(path)[1]
        try:
            with open(path, "rb") as f:
                resp = client.post("/api/clips", data={"event_id": row["event_id"], "kind": row["kind"],
                                                       "sha256": row["sha256"] or ""},
                                   files={"file": (path.name, f, MIME[row["kind"]])})
        except FileNotFoundError:
            self._finish(row, "failed", error="file gone (deleted by retention?) before upload")
            return
        except (httpx.TransportError, OSError) as e:
            self._retry(row, f"{type(e).__name__}: {e}")
            return
        if resp.status_code in (200, 201):
            try:
                url = str(resp.json()["url"])
            except (ValueError, KeyError, TypeError):
                self._finish(row, "failed", error=f"answer without url: {resp.text[:200]}")
                return
            self._finish(row, "done", url=url)
            self.stats["bytes"] += path.stat().st_size
            with self._lock:
                self._done.append(UploadDone(row["clip_id"], row["event_id"], row["kind"], url))
        elif resp.status_code >= 500 or resp.status_code in RETRY_STATUS:
            self._retry(row, f"HTTP {resp.status_code}")
        else:
            self._finish(row, "failed", error=f"HTTP {resp.status_code}: {resp.text[:200]}")

    def _retry(self, row: dict, why: str) -> None:
        attempts = row["attempts"] + 1
        wait = min(self.cfg.retry_max_s, 2.0 ** (attempts - 1))
        self.index.execute("UPDATE uploads SET attempts=?, next_at=?, error=? WHERE id=?",
                           (attempts, time.time() + wait, why, row["id"]))
        self.stats["retries"] += 1
        log.warning("clip upload of %s (%s) failed (%s); retry %d in %.0f s", row["path"], row["kind"], why,
                    attempts, wait)

    def _finish(self, row: dict, status: str, *, url: str | None = None, error: str | None = None) -> None:
        self.index.execute("UPDATE uploads SET status=?, url=?, error=?, attempts=attempts+1 WHERE id=?",
                           (status, url, error, row["id"]))
        if status == "done":
            self.stats["uploaded"] += 1
            log.info("clip %s (%s) uploaded: %s", row["path"], row["kind"], url)
        else:
            self.stats["failed"] += 1
            log.error("clip upload of %s (%s) given up: %s", row["path"], row["kind"], error)
