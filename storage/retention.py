"""Retention: free clip storage without ever touching evidence that is still needed.

`apply_retention(index, cfg, protected_event_ids, now)` works on any `ClipCatalog`: a `ClipIndex` (the
edge node's clip dir; the central service can keep one for its own clip dir too) or any object with the
same five members. It deletes, oldest first:
1. complete clips older than `keep_days` (by `created_at`, wall-clock epoch seconds);
2. then more of the oldest while the complete clips hold more than `max_gb`, or while the disk under the
   clip dir has less than `min_free_gb` free.
Never deleted: clips marked "keep" by a supervisor, clips of an event in `protected_event_ids` (alerts
still open), and clips still `recording`. Deleting removes the file and its snapshot and marks the row
`deleted` with the reason (the row stays for the audit trail). When only protected clips are left and the
limits are still exceeded, that is logged as an error (an operator must act) and nothing else is done.
"""

from __future__ import annotations

import logging
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

from storage.config import ClipsConfig
from storage.index import ClipRecord

log = logging.getLogger(__name__)
GB = 1e9


class ClipCatalog(Protocol):
    """What retention needs from a clip store (ClipIndex has it)."""

    dir: Path

    def list(self, status: str | None = None) -> list[ClipRecord]: ...  # oldest first
    def complete_bytes(self) -> int: ...
    def mark_deleted(self, clip_id: int, reason: str) -> None: ...
    def abspath(self, rel: str) -> Path: ...


def disk_free_bytes(path: Path) -> int:
    return shutil.disk_usage(path).free


def apply_retention(index: ClipCatalog, cfg: ClipsConfig, protected_event_ids: set[str], now: float, *,
                    free_bytes: Callable[[Path], int] = disk_free_bytes) -> list[ClipRecord]:
    """Delete what the limits require; returns the deleted clips (as they were before deletion).

    free_bytes: how free disk space is read (a parameter so tests can stage a full disk).
    """
    candidates = [r for r in index.list("complete") if not r.keep and r.event_id not in protected_event_ids]
    deleted: list[ClipRecord] = []
    cutoff = now - cfg.keep_days * 86400.0
    while candidates and candidates[0].created_at < cutoff:
        deleted.append(_delete(index, candidates.pop(0), f"older than keep_days={cfg.keep_days:g}"))
    held = index.complete_bytes()
    max_bytes = cfg.max_gb * GB
    min_free = cfg.min_free_gb * GB
    while True:
        free = free_bytes(index.dir)
        over, low = held > max_bytes, free < min_free
        if not (over or low):
            break
        if not candidates:
            log.error("clip storage: %s but every remaining clip is kept or belongs to an open alert "
                      "(%.2f GB held, %.2f GB free)", "max_gb exceeded" if over else "disk low",
                      held / GB, free / GB)
            break
        rec = candidates.pop(0)
        reason = f"max_gb={cfg.max_gb:g} exceeded" if over else f"disk low (< {cfg.min_free_gb:g} GB free)"
        deleted.append(_delete(index, rec, reason))
        held -= rec.size_bytes
    if deleted:
        log.info("clip retention: deleted %d clips (%.1f MB)", len(deleted),
                 sum(r.size_bytes for r in deleted) / 1e6)
    return deleted


def _delete(index: ClipCatalog, rec: ClipRecord, reason: str) -> ClipRecord:
    for rel in (rec.path, rec.snapshot):
        if rel:
            try:
                index.abspath(rel).unlink(missing_ok=True)
            except OSError as e:
                log.error("clip retention: cannot remove %s: %s", rel, e)
    index.mark_deleted(rec.id, reason)
    return rec
