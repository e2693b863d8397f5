"""The `hallwatch replay` command: load, override sources, run, write events, print the summary."""

from __future__ import annotations

import argparse
import logging
import sys

from edge.config import load_config
from edge.replay import Replay, apply_overrides, summary_table, write_events
from edge.sources import SourceError

log = logging.getLogger(__name__)


def run_replay_command(args: argparse.Namespace) -> int:
    from edge.cli import _sources, _start_at

    cfg = load_config(args.config)
    try:
        cfg = apply_overrides(cfg, _sources(args.source))
    except KeyError as exc:
        print(f"error: {exc.args[0]}", file=sys.stderr)
        return 2
    if getattr(args, "no_gating", False):
        cfg.gating.enabled = False
    try:
        replay = Replay(cfg, start_at=_start_at(args.start_at), progress=not args.no_progress)
        clips = None
        if cfg.clips is not None:  # evidence clips: packets -> pre-roll ring, events -> clips
            from edge.clip_recorder import ReplayClips, replay_uploader

            clips = ReplayClips(cfg, replay, uploader=replay_uploader(cfg))
        result = replay.run()
        if clips is not None:
            result.events.extend(clips.finish())  # `update` events whose `clip` is its path / URL
            if clips.uploader is not None:
                clips.uploader.stop()
    except SourceError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except FileNotFoundError as exc:  # a model that is missing offline says where to put it
        print(f"error: {exc}", file=sys.stderr)
        return 2
    out = write_events(result.events, args.out)
    print(summary_table(result.events))
    print(f"\n{len(result.events)} events -> {out}")
    print(f"{result.frames} analysed frames in {result.wall_s:.1f} s: {result.fps:.1f} frames/s, "
          f"{result.realtime_factor:.1f}x real time ({result.media_s:.1f} media s)")
    return 0
