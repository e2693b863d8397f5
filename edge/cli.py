"""`hallwatch` command line: check, replay, evaluate, demo, and the subcommands other capabilities add.

Each capability's subcommand lives in its own `edge/cli_<name>.py` exposing `add_parser(subparsers)`;
the registry below lists them explicitly.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import json
import logging
import sys
from datetime import datetime

from edge.config import ConfigError, load_config

log = logging.getLogger("hallwatch")

# Subcommand modules, registered when present (explicit: no plugin discovery magic).
COMMAND_MODULES = (
    "edge.cli_demo", "edge.cli_models", "edge.cli_audio", "edge.cli_storage", "edge.cli_central",
    "edge.cli_edge", "edge.cli_bench", "edge.cli_calibrate",
)


def _sources(pairs: list[str]) -> dict[str, str]:
    out = {}
    for p in pairs:
        key, sep, path = p.partition("=")
        if not sep or not key or not path:
            raise SystemExit(f"hallwatch: --source expects ID=PATH, got {p!r}")
        out[key] = path
    return out


def _start_at(text: str | None) -> float | None:
    if not text:
        return None
    try:
        dt = datetime.fromisoformat(text)
    except ValueError:
        raise SystemExit(f"hallwatch: --start-at expects an ISO time such as 2026-11-30T09:00:00+08:00, "
                         f"got {text!r}") from None
    return dt.timestamp()


def cmd_check(args: argparse.Namespace) -> int:
    try:
        cfg = load_config(args.config)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"{args.config}: ok ({len(cfg.cameras)} camera(s), {len(cfg.windows)} window(s), "
          f"{len(cfg.staff_areas)} staff area(s), {len(cfg.microphones)} microphone(s))")
    return 0


def cmd_replay(args: argparse.Namespace) -> int:
    from edge.replay_run import run_replay_command

    return run_replay_command(args)


def cmd_evaluate(args: argparse.Namespace) -> int:
    from evaluation.labels import LabelError, intervals_from_events, load_events, load_truth
    from evaluation.matching import metrics
    from evaluation.report import as_json, as_table, plot_timeline

    try:
        truth = load_truth(args.truth)
        predicted = intervals_from_events(load_events(args.events))
    except LabelError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    per_type = metrics(truth, predicted, args.tolerance_s)
    if args.plot:
        plot_timeline(truth, predicted, args.plot)
    if args.json:
        print(json.dumps(as_json(per_type, args.tolerance_s), sort_keys=True))
    else:
        print(as_table(per_type))
        if args.plot:
            print(f"timeline plot: {args.plot}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="hallwatch", description="Watch a service hall: empty posts, chatting, "
                                "disputes.")
    p.add_argument("-v", "--verbose", action="count", default=0, help="more logging (-vv for debug)")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    c = sub.add_parser("check", help="validate a node config (exit 2 on errors)")
    c.add_argument("config")
    c.set_defaults(func=cmd_check)

    r = sub.add_parser("replay", help="run the pipeline over recorded files, as fast as the CPU allows")
    r.add_argument("config")
    r.add_argument("--source", action="append", default=[], metavar="ID=PATH",
                   help="replace a camera's (or microphone's) source by a file; repeatable")
    r.add_argument("--out", default="events.jsonl", help="events file to write (default: events.jsonl)")
    r.add_argument("--start-at", default=None, help="wall time of media second 0 (ISO 8601), for the "
                   "opening-hours schedule; without it the schedule counts as always open")
    r.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    r.add_argument("--no-gating", action="store_true", help="full-frame inference on every analysed frame "
                   "(no motion gate, no crops): the reference the gated path is checked against")
    r.set_defaults(func=cmd_replay)

    e = sub.add_parser("evaluate", help="score alerts against truth labels")
    e.add_argument("--truth", required=True, help="truth labels (JSON list)")
    e.add_argument("--events", required=True, help="events.jsonl from replay")
    e.add_argument("--tolerance-s", type=float, default=2.0, help="largest start error of a match (s)")
    e.add_argument("--json", action="store_true", help="print the metrics as one JSON object")
    e.add_argument("--plot", default=None, help="write a timeline PNG of truth against alerts")
    e.set_defaults(func=cmd_evaluate)

    for name in COMMAND_MODULES:
        if importlib.util.find_spec(name) is not None:
            importlib.import_module(name).add_parser(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    level = logging.WARNING - 10 * min(args.verbose, 2) if args.verbose else logging.INFO
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        return int(args.func(args) or 0)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())

