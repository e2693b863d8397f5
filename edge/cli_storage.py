"""`hallwatch clips ...`: look after the evidence clip store, and measure what clip writing costs.

    hallwatch clips list CONFIG [--status complete]
    hallwatch clips recover CONFIG          # after a crash (the node also does this at start-up)
    hallwatch clips retention CONFIG        # apply keep_days / max_gb / min_free_gb now
    hallwatch clips keep CONFIG EVENT_ID    # a supervisor's "keep" (never deleted by retention)
    hallwatch clips bench [--video F] [--gif F] [--loops N]   # CPU per camera, share of one core
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import av

from detectors.types import Event


def _index(args: argparse.Namespace):
    from edge.config import load_config
    from storage.index import ClipIndex

    cfg = load_config(args.config)
    if cfg.clips is None:
        print(f"error: {args.config}: no `clips:` section", file=sys.stderr)
        raise SystemExit(2)
    return cfg.clips, ClipIndex(cfg.clips.dir)


def cmd_list(args: argparse.Namespace) -> int:
    _, index = _index(args)
    print(f"{'id':>5} {'status':<9} {'event':<40} {'win':<5} {'dur_s':>6} {'MB':>7} keep path")
    for r in index.list(args.status):
        dur = f"{r.duration_s:.1f}" if r.duration_s is not None else "-"
        print(f"{r.id:>5} {r.status:<9} {r.event_id:<40} {r.window or '-':<5} {dur:>6} "
              f"{r.size_bytes / 1e6:>7.2f} {'yes' if r.keep else 'no ':<4} {r.path}")
    print(index.counts())
    return 0


def cmd_recover(args: argparse.Namespace) -> int:
    from storage.recovery import recover

    _, index = _index(args)
    rep = recover(index)
    print(f"finished {len(rep.finished)}, failed {len(rep.failed)}, removed {len(rep.removed)} stray files")
    return 0


def cmd_retention(args: argparse.Namespace) -> int:
    from storage.retention import apply_retention

    cfg, index = _index(args)
    deleted = apply_retention(index, cfg, set(), time.time())
    print(f"deleted {len(deleted)} clips ({sum(r.size_bytes for r in deleted) / 1e6:.1f} MB)")
    return 0


def cmd_keep(args: argparse.Namespace) -> int:
    _, index = _index(args)
    n = index.set_keep(args.event_id, not args.undo)
    if n == 0:
        print(f"error: no clip of event {args.event_id!r}", file=sys.stderr)
        return 2
    print(f"{n} clip(s) of {args.event_id} {'no longer kept' if args.undo else 'kept'}")
    return 0


def bench_one(source: Path, loops: int, clip_dir: Path) -> dict[str, float]:
    """CPU seconds of (a) demuxing alone and (b) demuxing + a clip recorder that records all the time
    (one event over the whole run, continuation clips every max_s). Returns the shares of one core."""
    from storage.config import ClipsConfig
    from storage.index import ClipIndex
    from storage.recorder import ClipRecorder

    def run(record: bool) -> tuple[float, float]:
        cpu0, media = time.process_time(), 0.0
        rec = None
        for _ in range(loops):
            with av.open(str(source)) as c:
                vs = c.streams.video[0]
                if record and rec is None:
                    rec = ClipRecorder("bench", ClipsConfig(dir=str(clip_dir), max_s=60), ClipIndex(clip_dir),
                                       vs, live=False)
                    rec.on_event(Event("bench", "empty_post", "start", "s", "n", "bench", None, 0.0, 0.0))
                last = 0.0
                for p in c.demux(vs):
                    if p.size == 0 or p.pts is None:
                        continue
                    last = float(p.pts * p.time_base)
                    if rec is not None:
                        rec.push_packet(p, media + last)
                media += last + 1.0 / float(vs.average_rate or 10)
        if rec is not None:
            rec.close()
        return time.process_time() - cpu0, media

    demux_cpu, media = run(False)
    total_cpu, _ = run(True)
    return {"media_s": media, "demux_core": demux_cpu / media, "clips_core": (total_cpu - demux_cpu) / media}


def cmd_bench(args: argparse.Namespace) -> int:
    from models.assets import AssetMissingError, require_asset

    try:
        sources = [("H.264 (remux)", Path(args.video) if args.video else
                    require_asset("footage/one-by-one-person-detection.mp4")),
                   ("other (encode once)", Path(args.gif) if args.gif else
                    require_asset("footage/worker-zone-detection.gif"))]
    except AssetMissingError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"{'source':<20} {'media_s':>8} {'demux':>8} {'clip writing':>13}   (share of one core)")
    for name, path in sources:
        loops = 1 if name.startswith("H.264") else args.loops
        with tempfile.TemporaryDirectory() as tmp:
            r = bench_one(path, loops, Path(tmp))
        print(f"{name:<20} {r['media_s']:>8.1f} {r['demux_core']:>8.2%} {r['clips_core']:>13.2%}   {path.name}")
    return 0


def add_parser(subparsers) -> None:
    p = subparsers.add_parser("clips", help="evidence clip store: list, recover, retention, keep, bench")
    sub = p.add_subparsers(dest="clips_command", required=True, metavar="ACTION")
    for name, fn, hlp in (("list", cmd_list, "list clips in the index"),
                          ("recover", cmd_recover, "resolve clips left by a crash"),
                          ("retention", cmd_retention, "apply keep_days / max_gb / min_free_gb now")):
        s = sub.add_parser(name, help=hlp)
        s.add_argument("config")
        if name == "list":
            s.add_argument("--status", default=None, choices=["recording", "complete", "failed", "deleted"])
        s.set_defaults(func=fn)
    k = sub.add_parser("keep", help="mark an event's clips keep (never deleted by retention)")
    k.add_argument("config")
    k.add_argument("event_id")
    k.add_argument("--undo", action="store_true", help="remove the keep mark")
    k.set_defaults(func=cmd_keep)
    b = sub.add_parser("bench", help="CPU cost of clip writing per camera, as a share of one core")
    b.add_argument("--video", default=None, help="an H.264 file (default: the shared one-by-one footage)")
    b.add_argument("--gif", default=None, help="a GIF/MJPEG file (default: shared worker-zone GIF)")
    b.add_argument("--loops", type=int, default=8, help="times the short GIF is replayed (default 8)")
    b.set_defaults(func=cmd_bench)
