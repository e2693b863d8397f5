"""`hallwatch audio`: run only the audio path of a config over its microphones' files.

For calibration and measurement: prints each microphone's learnt baseline (speech level, pitch, ambient;
the values to write into `microphones[].baseline`), its CPU cost as a real-time factor, and the disputes
the audio alone would raise with the counter counts given by `--people`.

    hallwatch audio CONFIG --source mic1=a.wav --people 2 [--out events.jsonl] [--json]
    python -m edge.cli_audio ...   (the same)
"""

from __future__ import annotations

import argparse
import heapq
import json
import sys
import time

from edge.config import ConfigError, load_config


def _people(pairs: list[str], windows: list[str]) -> dict[str, int]:
    """`--people 2` (every window) and/or `--people W1=3` (one window)."""
    out = dict.fromkeys(windows, 0)
    for p in pairs:
        key, sep, val = p.partition("=")
        try:
            if sep:
                out[key] = int(val)
            else:
                out = dict.fromkeys(windows, int(key))
        except ValueError:
            raise SystemExit(f"hallwatch audio: --people expects N or WINDOW=N, got {p!r}") from None
    return out


def cmd_audio(args: argparse.Namespace) -> int:
    from edge.audio_pipeline import build_audio
    from edge.audio_sources import AudioSourceError
    from edge.cli import _sources
    from edge.replay import apply_overrides, summary_table, write_events

    try:
        cfg = apply_overrides(load_config(args.config), _sources(args.source))
    except (ConfigError, KeyError) as exc:
        print(f"error: {exc.args[0] if isinstance(exc, KeyError) else exc}", file=sys.stderr)
        return 2
    try:
        pipe = build_audio(cfg)
    except AudioSourceError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if pipe is None:
        print(f"error: {args.config}: no window has a microphone", file=sys.stderr)
        return 2
    people = _people(args.people, [w.id for w in cfg.windows])
    events = []
    t0, c0 = time.perf_counter(), time.process_time()
    try:
        now = 0.0
        for ts, key, chunk in heapq.merge(*pipe.chunk_streams(), key=lambda x: (x[0], x[1])):
            pipe.push(key, chunk)
            now = max(now, ts + chunk.duration_s)
            events += pipe.update(ts, people)
        events += pipe.close(now, people)
    except AudioSourceError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    wall = time.perf_counter() - t0
    cpu = time.process_time() - c0
    if args.out:
        write_events(events, args.out)
    levels = pipe.levels()
    if args.json:
        print(json.dumps({"levels": levels, "events": [e.to_dict() for e in events], "wall_s": wall},
                         sort_keys=True))
        return 0
    print(summary_table(events))
    print(f"\n{'input':<14} {'audio_s':>8} {'speech_db':>9} {'pitch_hz':>8} {'ambient_db':>10} "
          f"{'rtf':>8} {'% core':>7}")
    for key, lv in levels.items():
        def f(v: float | None, fmt: str) -> str:
            return "-" if v is None else format(v, fmt)
        rtf = lv["rtf"]
        print(f"{key:<14} {lv['audio_s']:>8.1f} {f(lv['baseline_speech_db'], '.1f'):>9} "
              f"{f(lv['baseline_pitch_hz'], '.0f'):>8} {f(lv['ambient_db'], '.1f'):>10} "
              f"{f(rtf, '.4f'):>8} {f(None if rtf is None else 100 * rtf, '.2f'):>7}")
    print(f"\n{len(events)} events; {wall:.1f} s wall, {cpu:.1f} s CPU in all (decoding included). "
          f"rtf = CPU seconds of VAD + features per second of audio, per input.")
    return 0


def add_parser(subparsers) -> None:
    a = subparsers.add_parser("audio", help="run the audio path alone: baselines, CPU cost, disputes")
    a.add_argument("config")
    a.add_argument("--source", action="append", default=[], metavar="ID=PATH",
                   help="replace a microphone's (or camera's) source by a file; repeatable")
    a.add_argument("--people", action="append", default=[], metavar="N|WINDOW=N",
                   help="people at the counters (default 0 everywhere); repeatable")
    a.add_argument("--out", default=None, help="also write the events here (jsonl)")
    a.add_argument("--json", action="store_true", help="print levels and events as one JSON object")
    a.set_defaults(func=cmd_audio)


def main(argv: list[str] | None = None) -> int:
    import logging

    p = argparse.ArgumentParser(prog="hallwatch")
    add_parser(p.add_subparsers(dest="command", required=True))
    args = p.parse_args(["audio", *(sys.argv[1:] if argv is None else argv)])
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
