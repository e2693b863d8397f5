"""`hallwatch calibrate CONFIG` (the zone editor web page) and `hallwatch preview CONFIG` (annotated video).

Registered by edge/cli.py through `add_parser(subparsers)`.
"""

from __future__ import annotations

import argparse
import logging
import secrets
import sys
from pathlib import Path

log = logging.getLogger(__name__)


def _calibrate(args: argparse.Namespace) -> int:
    import uvicorn

    from calibration.app import create_calibration_app
    from edge.config import ConfigError

    token = None if args.no_token else secrets.token_urlsafe(18)
    try:
        app = create_calibration_app(args.config, token=token)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    url = f"http://{args.host}:{args.port}/" + (f"?token={token}" if token else "")
    print(f"HallWatch calibration for {args.config}\nopen {url}\n(Ctrl+C to stop)", flush=True)
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning")
    return 0


def _preview(args: argparse.Namespace) -> int:
    from calibration.preview import PreviewError, render_preview
    from edge.cli import _sources
    from edge.config import ConfigError

    try:
        stats = render_preview(args.config, out=args.out, sources=_sources(args.source), camera=args.camera,
                               start_s=args.start, duration_s=args.duration)
    except (ConfigError, PreviewError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {args.out}: {stats.frames} frames, {stats.events} events, "
          f"{stats.wall_s:.1f} s ({stats.frames / max(stats.wall_s, 1e-9):.1f} frames/s)")
    return 0


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Adds the `calibrate` and `preview` subcommands."""
    p = subparsers.add_parser("calibrate", help="web page to draw zones, set the floor scale and measure mics",
                              description="Serves the zone editor for CONFIG on a local port. The printed URL "
                              "holds a random token (the page keeps it in a cookie); only this machine can "
                              "connect unless --host says otherwise.")
    p.add_argument("config", type=Path, help="node config YAML to edit")
    p.add_argument("--host", default="127.0.0.1", help="bind address (default 127.0.0.1: this machine only)")
    p.add_argument("--port", type=int, default=8765)
    p.add_argument("--no-token", action="store_true", help="no token check (only behind another guard)")
    p.set_defaults(func=_calibrate)

    q = subparsers.add_parser("preview", help="render video with zones, floor grid, people, timers and alerts",
                              description="Runs the node pipeline on one camera and writes an H.264 MP4 "
                              "showing what it sees: zones, floor grid, people (feet, track id, "
                              "staff/citizen), zone membership, rule timers and alerts as they fire.")
    q.add_argument("config", type=Path, help="node config YAML")
    q.add_argument("--source", action="append", default=[], metavar="ID=FILE",
                   help="replace a camera's (or microphone's) source by a recorded file (repeatable)")
    q.add_argument("--camera", help="camera to render (default: the first --source camera, else the first)")
    q.add_argument("--out", type=Path, default=Path("preview.mp4"),
                   help="output MP4 (H.264, one picture per analysed frame: the camera's detect_fps)")
    q.add_argument("--start", type=float, default=0.0, help="start at this many seconds into the file")
    q.add_argument("--duration", type=float, default=None, help="render only this many seconds")
    q.set_defaults(func=_preview)
