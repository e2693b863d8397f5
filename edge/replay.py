"""Replay: run the node's per-frame pipeline over recorded files, as fast as the CPU allows.

No sleeping to real time and no wall clock: every decision uses the frames' presentation times, so two
runs over the same input give identical events. Cameras are interleaved by timestamp.
"""

from __future__ import annotations

import heapq
import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from tqdm import tqdm

from detectors.gating import GatedDetector, full_offset_s
from detectors.types import AudioChunk, Event, Frame
from edge.config import NodeConfig
from edge.pipeline import CameraPipeline, Detector
from edge.sources import VideoSource, probe_duration_s

if TYPE_CHECKING:
    from edge.audio_pipeline import AudioPipeline

log = logging.getLogger(__name__)

EventSink = Callable[[Event], None]
FrameHook = Callable[[str, Frame, list[Event]], None]


@dataclass
class ReplayResult:
    events: list[Event]
    frames: int
    media_s: float
    wall_s: float
    per_camera_frames: dict[str, int] = field(default_factory=dict)

    @property
    def fps(self) -> float:
        return self.frames / self.wall_s if self.wall_s > 0 else 0.0

    @property
    def realtime_factor(self) -> float:
        """Media seconds processed per wall second (per camera stream, summed)."""
        return self.media_s / self.wall_s if self.wall_s > 0 else 0.0


def apply_overrides(cfg: NodeConfig, overrides: dict[str, str]) -> NodeConfig:
    """Replace camera (or microphone) sources by id: `{"cam1": "path.mp4"}`; unknown ids are an error."""
    cfg = cfg.model_copy(deep=True)
    known = {c.id: c for c in cfg.cameras} | {m.id: m for m in cfg.microphones}
    for key, path in overrides.items():
        if key not in known:
            raise KeyError(f"--source {key}=...: {key!r} is not a camera or microphone id "
                           f"(have {sorted(known)})")
        known[key].source = str(Path(path).resolve()) if "://" not in path else path
    return cfg


class Replay:
    """Wire sources, one shared detector and per-camera pipelines; `run()` processes everything.

    Other capabilities hook in without changing this loop: `event_sinks` get every event as it happens,
    `frame_hooks` get each analysed frame with the events it produced, `packet_hooks[camera]` gets the
    encoded packets of that camera and `audio_hooks` every audio chunk with its input key (for clips).
    """

    def __init__(self, cfg: NodeConfig, *, detector: Detector | None = None, start_at: float | None = None,
                 progress: bool = False, stages_factory: Callable[[NodeConfig, str], list] | None = None,
                 crop_detector: Detector | None = None) -> None:
        self.cfg = cfg
        if detector is None:
            from edge.detect import load_detectors

            detector, loaded_crop = load_detectors(cfg)
            crop_detector = crop_detector or loaded_crop
        self.detector = detector
        self.start_at = start_at
        self.progress = progress
        clock = (lambda t: start_at + t) if start_at is not None else None
        self.pipelines = {
            c.id: CameraPipeline(cfg, c.id, detector, wall_clock=clock,
                                 stages=stages_factory(cfg, c.id) if stages_factory else None,
                                 gated=GatedDetector(detector, crop_detector, cfg.gating,  # type: ignore[arg-type]
                                                     full_offset_s=full_offset_s(cfg.gating, i, len(cfg.cameras)))
                                 if cfg.gating.enabled else None)
            for i, c in enumerate(cfg.cameras)
        }
        if cfg.schedule is not None and start_at is None:
            log.info("replay without --start-at: the opening-hours schedule is treated as always open")
        # windows with a microphone: their audio is merged into the same timeline (edge/audio_pipeline.py,
        # imported only then: librosa and the VAD cost seconds to load)
        self.audio: AudioPipeline | None = None
        if any(w.microphone for w in cfg.windows):
            from edge.audio_pipeline import build_audio

            self.audio = build_audio(cfg)
        self.event_sinks: list[EventSink] = []
        self.frame_hooks: list[FrameHook] = []
        self.packet_hooks: dict[str, list[Callable]] = {c.id: [] for c in cfg.cameras}
        self.audio_hooks: list[Callable[[str, AudioChunk], None]] = []  # (input key, chunk), e.g. clips

    def _source(self, camera_id: str) -> VideoSource:
        cam = self.cfg.camera(camera_id)
        hooks = self.packet_hooks[camera_id]

        def on_packet(packet, stream) -> None:
            for h in hooks:
                h(packet, stream)

        return VideoSource(camera_id, cam.source, detect_fps=cam.detect_fps, live=False,
                           decoder_threads=cam.decoder_threads, on_packet=on_packet if hooks else None)

    def _merged(self) -> Iterator[tuple[float, str, Frame]]:
        def tagged(cam_id: str) -> Iterator[tuple[float, str, Frame]]:
            for frame in self._source(cam_id):
                yield frame.ts, cam_id, frame

        streams: list[Iterator] = [tagged(c.id) for c in self.cfg.cameras]
        if self.audio is not None:  # audio chunks first at equal times, so a frame sees the audio up to it
            streams += self.audio.chunk_streams()
        return heapq.merge(*streams, key=lambda x: (x[0], isinstance(x[2], Frame), x[1]))

    def counter_people(self) -> dict[str, int]:
        """People in each window's counter zone, as last seen by its camera."""
        return {w: n for p in self.pipelines.values() for w, n in p.state.counter_people().items()}

    def _emit(self, events: list[Event], out: list[Event]) -> None:
        for ev in events:
            out.append(ev)
            for sink in self.event_sinks:
                sink(ev)

    def run(self) -> ReplayResult:
        total_s = sum((probe_duration_s(c.source) or 0.0) for c in self.cfg.cameras)
        events: list[Event] = []
        last_ts: dict[str, float] = {c.id: 0.0 for c in self.cfg.cameras}
        counts: dict[str, int] = {c.id: 0 for c in self.cfg.cameras}
        t0 = time.perf_counter()
        with tqdm(total=round(total_s, 1) or None, unit="s", desc="replay", disable=not self.progress,
                  bar_format="{l_bar}{bar}| {n:.0f}/{total:.0f} media s [{elapsed}<{remaining}]") as bar:
            for ts, cam_id, frame in self._merged():
                if not isinstance(frame, Frame):  # an audio chunk of input `cam_id`
                    self.audio.push(cam_id, frame)  # type: ignore[union-attr]
                    for audio_hook in self.audio_hooks:
                        audio_hook(cam_id, frame)
                    continue
                new = self.pipelines[cam_id].process(frame)
                if self.audio is not None:
                    new += self.audio.update(ts, self.counter_people())
                self._emit(new, events)
                for hook in self.frame_hooks:
                    hook(cam_id, frame, new)
                bar.update(max(0.0, ts - last_ts[cam_id]))
                last_ts[cam_id] = ts
                counts[cam_id] += 1
        for cam_id, pipe in self.pipelines.items():
            self._emit(pipe.close(last_ts[cam_id]), events)
        if self.audio is not None:
            self._emit(self.audio.close(max(last_ts.values(), default=0.0), self.counter_people()), events)
        wall = time.perf_counter() - t0
        return ReplayResult(events, sum(counts.values()), sum(last_ts.values()), wall, counts)


def write_events(events: list[Event], path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".part")
    with open(tmp, "w", encoding="utf-8") as f:
        for ev in events:
            f.write(ev.to_json() + "\n")
    tmp.replace(path)
    return path


def summary_table(events: list[Event]) -> str:
    """One row per incident: type, camera, window, start, end, duration, people."""
    rows: dict[str, dict] = {}
    for ev in events:
        r = rows.setdefault(ev.event_id, {"type": ev.type, "camera": ev.camera, "window": ev.window or "-",
                                          "start": ev.started_at, "end": None, "people": ev.people})
        if ev.state == "end":
            r["end"] = ev.t
            r["reason"] = ev.details.get("reason", "")
    head = f"{'#':>3}  {'type':<11} {'camera':<8} {'window':<7} {'start_s':>8} {'end_s':>8} {'dur_s':>7}  ended by"
    lines = [head, "-" * len(head)]
    for i, r in enumerate(sorted(rows.values(), key=lambda r: r["start"]), 1):
        end = f"{r['end']:.1f}" if r["end"] is not None else "open"
        dur = f"{r['end'] - r['start']:.1f}" if r["end"] is not None else "-"
        lines.append(f"{i:>3}  {r['type']:<11} {r['camera']:<8} {r['window']:<7} {r['start']:>8.1f} {end:>8} "
                     f"{dur:>7}  {r.get('reason', '')}")
    if not rows:
        lines.append("  (no alerts)")
    return "\n".join(lines)
