"""`hallwatch demo`: the whole system on embedded defaults, with one command.

Starts an embedded MQTT broker (amqtt, for the demo only) and the central alarm service with a SQLite
file, prints the dashboard URL and fresh credentials, then replays the real one-by-one footage from the
shared assets through the edge pipeline (embedded config edge/demo.yaml), publishing every alert over
MQTT as it happens. At the end it prints the alerts, the replay speed and the score against the
hand-labelled truth, and keeps the dashboard up until Ctrl-C (`--exit-when-done` to stop at once).
`--replay-only` skips the broker and the central service.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from importlib import resources
from pathlib import Path

import yaml

from edge.config import NodeConfig, parse_config, resolve_paths

log = logging.getLogger(__name__)

DEMO_CONFIG = "demo.yaml"
DEMO_TRUTH = "demo.truth.json"


def demo_config(assets: Path) -> NodeConfig:
    """The embedded demo config with its footage resolved under `assets`."""
    data = yaml.safe_load(resources.files("edge").joinpath(DEMO_CONFIG).read_text(encoding="utf-8"))
    return resolve_paths(parse_config(data, f"<embedded {DEMO_CONFIG}>"), assets)


class Pacer:
    """Frame hook that holds the replay to `speed` x real time, so alerts arrive while people watch."""

    def __init__(self, speed: float) -> None:
        self.speed = speed
        self.t0: float | None = None

    def __call__(self, camera_id, frame, events) -> None:
        if self.t0 is None:
            self.t0 = time.monotonic() - frame.ts / self.speed
        ahead = frame.ts / self.speed - (time.monotonic() - self.t0)
        if ahead > 0:
            time.sleep(ahead)


def _score(events) -> str:
    from evaluation.labels import intervals_from_events, load_truth
    from evaluation.matching import metrics
    from evaluation.report import as_table

    with resources.as_file(resources.files("edge").joinpath(DEMO_TRUTH)) as truth_path:
        per_type = metrics(load_truth(truth_path), intervals_from_events([e.to_dict() for e in events]),
                           tolerance_s=2.0)
    return as_table(per_type)


def cmd_demo(args: argparse.Namespace) -> int:
    from edge.replay import Replay, summary_table, write_events
    from models.assets import AssetMissingError, require_asset

    try:
        footage = require_asset("footage/one-by-one-person-detection.mp4")
    except AssetMissingError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    cfg = demo_config(footage.parent.parent)
    out_dir = Path(args.out_dir).resolve()
    out_dir.mkdir(parents=True, exist_ok=True)
    replay = Replay(cfg, progress=not args.no_progress)
    stack = publisher = None
    if not args.replay_only:
        from alerts.central.demo import start_demo_stack
        from alerts.publisher import Publisher
        from edge.window_states import WindowStates

        stack = start_demo_stack(out_dir, http_port=args.port)
        publisher = Publisher(stack.mqtt, cfg.site, cfg.node)
        publisher.start()
        replay.event_sinks.append(publisher.publish_event)
        states = WindowStates(publisher)
        replay.frame_hooks.append(lambda cam, frame, events: states.publish_changes(replay.pipelines[cam]))
        users = ", ".join(f"{u} / {p}" for u, p in stack.creds.items() if u != "edge_token")
        print(f"\nDashboard: {stack.url}   (log in as one of: {users})\n")
    from edge.clip_recorder import demo_clips  # evidence clips, uploaded to the dashboard when it runs

    clips = demo_clips(cfg, replay, out_dir, stack.url if stack else None,
                       publisher.publish_event if publisher else None)
    if args.speed > 0:
        replay.frame_hooks.append(Pacer(args.speed))
    print(f"Replaying {footage.name} (139 s) at {'full' if args.speed <= 0 else f'{args.speed:g}x'} speed: "
          f"window W1's post is the standing table; an alert starts after "
          f"{cfg.rules.empty_post.after_s:g} s without anyone there.\n")
    try:
        result = replay.run()
        last_updates = clips.finish(upload_wait_s=30)
        for update in last_updates if publisher is not None else ():
            publisher.publish_event(update)
        result.events.extend(clips.history)  # every clip update, published or not
        if publisher is not None and not publisher.flush(30):
            log.warning("some alerts are still in the outbox (%s)", stack.mqtt.outbox)
        events_path = write_events(result.events, out_dir / "events.jsonl")
        print(summary_table(result.events))
        print(f"\n{result.frames} frames in {result.wall_s:.1f} s ({result.fps:.1f} frames/s); "
              f"events: {events_path}")
        print("\nScored against the hand-labelled truth (tolerance 2 s):")
        print(_score(result.events))
        if stack is not None and not args.exit_when_done:
            print(f"\nThe dashboard stays up at {stack.url}; press Ctrl-C to stop.")
            while True:
                time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        if clips.uploader is not None:
            clips.uploader.stop()
        if publisher is not None:
            publisher.stop()
        if stack is not None:
            stack.stop()
    return 0


def add_parser(subparsers) -> None:
    p = subparsers.add_parser("demo", help="the whole system on the real footage with embedded defaults")
    p.add_argument("--out-dir", default="demo-out", help="events, database, outbox (default: demo-out)")
    p.add_argument("--port", type=int, default=8080, help="dashboard port on 127.0.0.1 (default 8080)")
    p.add_argument("--speed", type=float, default=2.0, help="replay speed relative to real time so alerts "
                   "arrive while you watch (default 2; 0 = as fast as the CPU allows)")
    p.add_argument("--replay-only", action="store_true", help="no broker, no central service: only the "
                   "replay, its alerts table and score")
    p.add_argument("--exit-when-done", action="store_true", help="stop when the replay ends")
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    p.set_defaults(func=cmd_demo)
