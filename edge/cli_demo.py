"""`hallwatch demo`: the main job on embedded defaults.

Replays the real one-by-one footage from the shared assets through the whole node pipeline with the
embedded config (edge/demo.yaml), prints the alerts as a table, and scores them against the committed
truth labels.
"""

from __future__ import annotations

import argparse
import sys
from importlib import resources
from pathlib import Path

import yaml

from edge.config import parse_config, resolve_paths

DEMO_CONFIG = "demo.yaml"
DEMO_TRUTH = "demo.truth.json"


def demo_config(assets: Path):
    """The embedded demo config with its footage resolved under `assets`."""
    data = yaml.safe_load(resources.files("edge").joinpath(DEMO_CONFIG).read_text(encoding="utf-8"))
    return resolve_paths(parse_config(data, f"<embedded {DEMO_CONFIG}>"), assets)


def cmd_demo(args: argparse.Namespace) -> int:
    from edge.replay import Replay, summary_table, write_events
    from evaluation.labels import intervals_from_events, load_truth
    from evaluation.matching import metrics
    from evaluation.report import as_table
    from models.assets import AssetMissingError, require_asset

    try:
        footage = require_asset("footage/one-by-one-person-detection.mp4")
    except AssetMissingError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    cfg = demo_config(footage.parent.parent)
    out_dir = Path(args.out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    print(f"HallWatch demo: replaying {footage.name} (139 s) through the edge pipeline "
          f"(window W1's post = the standing table; empty after {cfg.rules.empty_post.after_s:g} s)\n")
    result = Replay(cfg, progress=not args.no_progress).run()
    events_path = write_events(result.events, out_dir / "events.jsonl")
    print(summary_table(result.events))
    print(f"\n{result.frames} frames in {result.wall_s:.1f} s ({result.fps:.1f} frames/s, "
          f"{result.realtime_factor:.1f}x real time); events: {events_path}")
    truth_file = resources.files("edge").joinpath(DEMO_TRUTH)
    with resources.as_file(truth_file) as truth_path:
        per_type = metrics(load_truth(truth_path), intervals_from_events(
            [e.to_dict() for e in result.events]), tolerance_s=2.0)
    print("\nScored against the hand-labelled truth (tolerance 2 s):")
    print(as_table(per_type))
    return 0


def add_parser(subparsers) -> None:
    p = subparsers.add_parser("demo", help="run the demo on the real footage with embedded defaults")
    p.add_argument("--out-dir", default="demo-out", help="where events are written (default: demo-out)")
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    p.set_defaults(func=cmd_demo)
