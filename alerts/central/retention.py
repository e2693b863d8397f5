"""Retention of the clips uploaded to the central service, with the same policy as the edge's clip store.

`storage.retention.apply_retention` decides (oldest first: older than `keep_days`, then while over
`max_gb` or the disk has less than `min_free_gb`); this module adapts central's `clips` table to the
catalog it works on and runs it periodically. Never deleted: clips marked keep, clips of alarms not yet
resolved (`protected_event_ids`). A deleted clip's file goes; its row stays, marked, for the audit trail,
and `/clips/<id>` answers 410 for it.
"""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from alerts.central.config import ClipRetentionConfig
from alerts.central.store import Clip, protected_event_ids
from storage.config import ClipsConfig
from storage.index import ClipRecord
from storage.retention import apply_retention

log = logging.getLogger(__name__)


class CentralClipCatalog:
    """Central's `clips` table seen as a `storage.retention.ClipCatalog`."""

    def __init__(self, sessions: sessionmaker[Session], clips_dir: str | Path) -> None:
        self.sessions = sessions
        self.dir = Path(clips_dir)

    def list(self, status: str | None = None) -> list[ClipRecord]:
        if status not in (None, "complete"):
            return []
        with self.sessions() as s:
            rows = s.scalars(select(Clip).where(Clip.deleted_at.is_(None)).order_by(Clip.created_at))
            return [ClipRecord(id=r.id, event_id=r.event_id, part=0, camera="", window=None, type=r.kind,  # type: ignore[arg-type]
                               path=r.path, snapshot=None, start_s=None, end_s=None, duration_s=None,
                               size_bytes=r.size, sha256=r.sha256, status="complete", keep=r.keep,
                               recovered=False, error=None, created_at=r.created_at, finished_at=r.created_at)
                    for r in rows]

    def complete_bytes(self) -> int:
        with self.sessions() as s:
            return int(s.scalar(select(func.coalesce(func.sum(Clip.size), 0)).where(Clip.deleted_at.is_(None))))

    def mark_deleted(self, clip_id: str, reason: str) -> None:  # type: ignore[override]
        with self.sessions() as s:
            row = s.get(Clip, clip_id)
            if row is not None:
                row.deleted_at, row.deleted_reason = time.time(), reason
                s.commit()

    def abspath(self, rel: str) -> Path:
        p = Path(rel)
        return p if p.is_absolute() else self.dir / p


def run_retention(sessions: sessionmaker[Session], clips_dir: str | Path, cfg: ClipRetentionConfig,
                  now: float) -> list[ClipRecord]:
    """One pass; returns what was deleted."""
    dir_ = Path(clips_dir)
    dir_.mkdir(parents=True, exist_ok=True)
    with sessions() as s:
        protected = protected_event_ids(s)
    policy = ClipsConfig(dir=str(dir_), keep_days=cfg.keep_days, max_gb=cfg.max_gb, min_free_gb=cfg.min_free_gb)
    return apply_retention(CentralClipCatalog(sessions, dir_), policy, protected, now)


class RetentionLoop:
    """Runs `run_retention` at start and every `check_every_s` in a daemon thread."""

    def __init__(self, sessions: sessionmaker[Session], clips_dir: str | Path, cfg: ClipRetentionConfig) -> None:
        self.sessions, self.clips_dir, self.cfg = sessions, clips_dir, cfg
        self.deleted = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="central-retention", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=10)

    def _run(self) -> None:
        while True:
            try:
                self.deleted += len(run_retention(self.sessions, self.clips_dir, self.cfg, time.time()))
            except Exception:  # noqa: BLE001 - a failed pass is logged and retried, never fatal to central
                log.exception("clip retention pass failed; retrying in %.0f s", self.cfg.check_every_s)
            if self._stop.wait(self.cfg.check_every_s):
                return
