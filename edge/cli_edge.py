"""`hallwatch edge CONFIG`: run the live node (all cameras of the config) until interrupted."""

from __future__ import annotations

import argparse
import json
import logging
import signal
import sys
from pathlib import Path
from typing import Any

from detectors.types import Event
from edge.window_states import WindowStates

log = logging.getLogger(__name__)


class JsonlSink:
    """Appends every event as one JSON line, flushed at once (a crash loses nothing already raised)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._f = open(self.path, "a", encoding="utf-8")  # noqa: SIM115 - lives as long as the node

    def __call__(self, event: Event) -> None:
        self._f.write(event.to_json() + "\n")
        self._f.flush()

    def close(self) -> None:
        self._f.close()


def _stats_file(path: str | None):  # noqa: ANN202 - returns a stats sink
    def sink(snap: dict[str, Any]) -> None:
        log.info("stats: %d analysed frames, %.1f/s, inference on %s of frames, drops %s, late %d",
                 snap["analysed_frames"], snap["analysed_fps"], snap["inference_fraction"], snap["drops"],
                 snap["late_frames"])
        if path:
            Path(path).write_text(json.dumps(snap, sort_keys=True, indent=1), encoding="utf-8")

    return sink


def cmd_edge(args: argparse.Namespace) -> int:
    from edge.config import load_config
    from edge.node import Node
    from edge.sources import SourceError

    cfg = load_config(args.config)
    if args.no_gating:
        cfg.gating.enabled = False
    if args.workers:
        cfg.runtime.detector_workers = args.workers
    events = JsonlSink(args.events)
    sinks, stats_sinks, hooks = [events], [_stats_file(args.stats)], []
    publisher = None
    if cfg.mqtt is not None:  # events, retained window states and stats over MQTT (alerts.publisher)
        from alerts.publisher import Publisher

        publisher = Publisher(cfg.mqtt, cfg.site, cfg.node)
        publisher.start()
        sinks.append(publisher.publish_event)
        stats_sinks.append(publisher.publish_stats)
        hooks.append(WindowStates(publisher))
    try:  # clips recover their index, microphones are checked and librosa warmed up here
        node = Node(cfg, event_sinks=sinks, stats_sinks=stats_sinks, frame_hooks=hooks)
    except (SourceError, OSError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        events.close()
        if publisher is not None:
            publisher.stop()
        return 2
    signal.signal(signal.SIGTERM, lambda *_: node.stop())
    try:
        node.run(args.duration)
    except KeyboardInterrupt:
        node.stop()
    except (FileNotFoundError, RuntimeError, TimeoutError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    finally:
        events.close()
        if publisher is not None:
            publisher.flush(5.0)
            publisher.stop()
    return 0


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("edge", help="run the live node: every camera of CONFIG, until interrupted")
    p.add_argument("config")
    p.add_argument("--events", default="events.jsonl", help="append events here (default: events.jsonl)")
    p.add_argument("--stats", default=None, help="write the latest stats JSON here")
    p.add_argument("--duration", type=float, default=None, help="stop after this many seconds")
    p.add_argument("--workers", type=int, default=None, help="detector worker processes (default: cores)")
    p.add_argument("--no-gating", action="store_true", help="full-frame inference on every analysed frame")
    p.set_defaults(func=cmd_edge)
