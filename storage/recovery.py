"""Make the clip index and the clip directory agree again after a crash (run once at start-up).

For every row still `recording` (its writer died, e.g. kill -9):
- the final `.mp4` exists (the crash fell between the rename and the index update): it was fsynced
  before the rename, so it is complete; its size and sha256 are recorded -> `complete`;
- else a `.part` exists: the fragments that reached the disk are remuxed into the final MP4 (the same
  atomic finalize as a normal finish) -> `complete` with `recovered=1` and the cut noted in `error`;
  a `.part` with no readable fragment is removed -> `failed`;
- else nothing is on disk -> `failed`.
Then stray `.part.mp4` / `.tmp.mp4` / `.tmp` files that no row explains are removed, and `.mp4` files
the index does not know are removed too (never silently kept), each with a warning.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import av

from storage.clip_writer import file_sha256, finalize_part, part_path, tmp_path
from storage.index import ClipIndex

log = logging.getLogger(__name__)


@dataclass
class RecoveryReport:
    finished: list[int] = field(default_factory=list)  # clip ids salvaged or confirmed complete
    failed: list[int] = field(default_factory=list)  # clip ids marked failed
    removed: list[str] = field(default_factory=list)  # stray files removed (relative paths)


def recover(index: ClipIndex) -> RecoveryReport:
    """Resolve every `recording` row and remove stray files; returns what was done."""
    rep = RecoveryReport()
    for rec in index.list("recording"):
        final = index.abspath(rec.path)
        part = part_path(final)
        tmp_path(final).unlink(missing_ok=True)
        if final.exists():
            size, digest = file_sha256(final)
            part.unlink(missing_ok=True)
            index.complete(rec.id, start_s=rec.start_s, end_s=rec.end_s, size_bytes=size, sha256=digest,
                           recovered=True)
            rep.finished.append(rec.id)
            log.warning("clip %s: finished before the crash; index updated", rec.path)
        elif part.exists():
            try:
                fin = finalize_part(part, final)
            except (ValueError, OSError, av.error.FFmpegError) as e:
                part.unlink(missing_ok=True)
                index.fail(rec.id, f"crashed while recording; nothing readable ({e})")
                rep.failed.append(rec.id)
                log.error("clip %s: crashed while recording and nothing was readable; removed", rec.path)
                continue
            start = rec.start_s
            end = None if start is None or fin.last_pts_s is None or fin.first_pts_s is None else \
                start + (fin.last_pts_s - fin.first_pts_s)
            index.complete(rec.id, start_s=start, end_s=end, size_bytes=fin.size_bytes, sha256=fin.sha256,
                           recovered=True, error="cut short by a crash; kept what reached the disk")
            rep.finished.append(rec.id)
            log.warning("clip %s: crashed while recording; salvaged %d video packets", rec.path,
                        fin.video_packets)
        else:
            index.fail(rec.id, "crashed while recording; no file on disk")
            rep.failed.append(rec.id)
            log.error("clip %s: crashed before any data reached the disk", rec.path)
    _remove_strays(index, rep)
    return rep


def _remove_strays(index: ClipIndex, rep: RecoveryReport) -> None:
    known = {r.path for r in index.list() if r.status in ("complete", "recording")}
    snaps = {r.snapshot for r in index.list() if r.snapshot and r.status == "complete"}
    for f in sorted(index.dir.rglob("*")):
        if not f.is_file() or f.parent == index.dir:
            continue  # the index's own files live at the top
        rel = f.relative_to(index.dir).as_posix()
        stray_temp = f.name.endswith((".part.mp4", ".tmp.mp4", ".tmp"))
        unknown_clip = f.suffix == ".mp4" and rel not in known
        unknown_snap = f.suffix == ".jpg" and rel not in snaps
        if stray_temp or unknown_clip or unknown_snap:
            f.unlink()
            rep.removed.append(rel)
            log.warning("clip dir: removed %s (not a complete clip in the index)", rel)
