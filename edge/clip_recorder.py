"""Glue between the node's sources/events and evidence storage.

- `load_audio_file` / `FileMic`: a microphone read from an audio file, handed out as AudioChunks on
  the media clock; with `loop` the file repeats, like a live microphone that never stops, so footage
  longer than the recording stays covered (the tests use that).
- `clip_update`: the `update` event that carries a finished clip's path or URL in the `clip` field.
- `NodeClips`: the node's clips (live or replay): recorders, snapshots, clip `update` events, uploads,
  retention; `ReplayClips` hooks it into a `Replay`.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import cv2
import numpy as np

from detectors.types import AudioChunk, Detections, Event, Frame
from edge.audio_sources import read_audio
from models.registry import resolve_model
from storage.config import ClipsConfig, ClipUploadConfig
from storage.index import ClipIndex, ClipRecord
from storage.recorder import ClipDone, ClipRecorder
from storage.recovery import recover
from storage.retention import apply_retention
from storage.snapshot import FaceBlur, render_snapshot
from storage.uploader import ClipUploader

log = logging.getLogger(__name__)
AUDIO_RATE = 16000  # AudioChunk sample rate of the node's audio inputs

if TYPE_CHECKING:
    from edge.config import NodeConfig
    from edge.replay import Replay


def load_audio_file(path: str | Path, rate: int = AUDIO_RATE) -> np.ndarray:
    """float32 (N,) mono 16 kHz samples of an audio file (edge/audio_sources.py decodes it)."""
    if rate != AUDIO_RATE:
        raise ValueError(f"microphone file {path}: only {AUDIO_RATE} Hz is supported, got {rate}")
    samples = read_audio(str(path))
    if len(samples) == 0:
        raise ValueError(f"microphone file {path}: no samples")
    return samples


class FileMic:
    """AudioChunks of an audio file, starting at media time `start_s`; with `loop` it repeats forever.

    `until(t_s)` returns the chunks (each `chunk_s` long) that together cover up to at least `t_s`.
    """

    def __init__(self, samples: np.ndarray, rate: int = 16000, *, chunk_s: float = 0.1,
                 start_s: float = 0.0, loop: bool = True) -> None:
        if len(samples) == 0:
            raise ValueError("FileMic: no samples")
        self.samples, self.rate = samples, rate
        self._n = max(1, int(round(chunk_s * rate)))
        self._pos = 0  # total samples handed out
        self.start_s = start_s
        self.loop = loop

    def sample_at(self, t_s: float) -> int:
        """Index into `samples` of the sample played at media time t_s."""
        return int(round((t_s - self.start_s) * self.rate)) % len(self.samples)

    def until(self, t_s: float) -> list[AudioChunk]:
        out = []
        while self.start_s + self._pos / self.rate < t_s:
            if not self.loop and self._pos >= len(self.samples):
                break
            i = self._pos % len(self.samples)
            seg = self.samples[i:i + self._n]
            out.append(AudioChunk(self.start_s + self._pos / self.rate, seg, self.rate))
            self._pos += len(seg)
        return out


def clip_update(event: Event, clip: str, t: float | None = None) -> Event:
    """The `update` event of an incident carrying its clip path/URL (sent when the clip is finished)."""
    return dataclasses.replace(event, state="update", clip=clip, t=event.t if t is None else t)


class NodeClips:
    """Evidence clips of a whole node, live or replay: per camera a `ClipRecorder`, snapshots, the clip
    `update` events, uploads and retention.

        clips.on_packet(cam_id, packet, stream)     # every encoded packet (source callback)
        clips.on_audio(cam_id, chunk)               # microphone chunks of the camera's windows (live)
        clips.on_event(event)                       # every event the rules emit
        clips.on_frame(cam_id, frame, people)       # after each analysed frame: snapshots, clip starts
        updates = clips.poll()                      # clip `update` events to publish
        clips.maintain(time.time())                 # now and then (live): retention
        updates += clips.finish()                   # at exit

    Live (`live=True`) finishes clips on a background thread and lets the encoder drop when busy;
    replay finishes inline and applies back-pressure, so its output is deterministic. The index is
    recovered (storage/recovery.py) when this object is built, before anything new is written.
    """

    def __init__(self, cfg: NodeConfig, *, live: bool, mics: dict[str, FileMic] | None = None,
                 mic_rates: dict[str, int] | None = None, index: ClipIndex | None = None,
                 uploader: ClipUploader | None = None) -> None:
        if cfg.clips is None:
            raise ValueError("clips: the config has no `clips:` section")
        self.cfg, self.clips_cfg, self.live = cfg, cfg.clips, live
        self.index = index if index is not None else ClipIndex(cfg.clips.dir)
        recover(self.index)
        self.mics = mics or {}
        self.mic_rates = {cam: m.rate for cam, m in self.mics.items()} | (mic_rates or {})
        self.uploader = uploader
        self.face_blur = FaceBlur(resolve_model(cfg.clips.face_model)) if cfg.clips.blur_faces else None
        self.recorders: dict[str, ClipRecorder] = {}
        self.done: list[ClipDone] = []
        self._updates: list[Event] = []
        self._by_clip: dict[int, tuple[Event, float]] = {}  # clip id -> latest event, clip end
        self.history: list[Event] = []  # every clip update handed out by poll()
        self._pending: dict[str, list[Event]] = {c.id: [] for c in cfg.cameras}
        self._anchor: dict[str, float] = {}  # live: epoch seconds minus stream seconds, per camera
        self._last_stream_s: dict[str, float] = {}

    def on_packet(self, cam_id: str, packet: Any, stream: Any) -> None:
        rec = self.recorders.get(cam_id)
        if rec is not None and rec.stream is not stream:  # the source reconnected: a new stream
            self._take(rec.close())
            rec = None
        if rec is None:
            rec = self.recorders[cam_id] = ClipRecorder(
                cam_id, self.clips_cfg, self.index, stream, background=self.live, live=self.live,
                mic_rate=self.mic_rates.get(cam_id))
            self._anchor.pop(cam_id, None)
            self._last_stream_s.pop(cam_id, None)
        ts = self._live_ts(cam_id, packet) if self.live else None
        mic = self.mics.get(cam_id)
        if mic is not None and packet.pts is not None:
            t = ts if ts is not None else float(packet.pts * packet.time_base)
            for chunk in mic.until(t + 0.5):
                rec.push_audio(chunk)
        self._take(rec.push_packet(packet, ts))

    def _live_ts(self, cam_id: str, packet: Any) -> float | None:
        """Live frames carry capture epoch time; packets get the same clock: stream time plus an offset
        fixed at the first packet, and fixed again when the stream's clock jumps by more than 10 s."""
        t = packet.pts if packet.pts is not None else packet.dts
        if t is None:
            return None
        stream_s = float(t * packet.time_base)
        last = self._last_stream_s.get(cam_id)
        if cam_id not in self._anchor or (last is not None and abs(stream_s - last) > 10.0):
            self._anchor[cam_id] = time.time() - stream_s
        self._last_stream_s[cam_id] = stream_s
        return stream_s + self._anchor[cam_id]

    def clock_offset(self, cam_id: str) -> float | None:
        """Live: epoch seconds minus stream seconds of the camera's packets (None before the first)."""
        return self._anchor.get(cam_id)

    def on_audio(self, cam_id: str, chunk: AudioChunk) -> None:
        rec = self.recorders.get(cam_id)
        if rec is not None:
            rec.push_audio(chunk)

    def on_event(self, event: Event) -> None:
        if event.clip is None and event.camera in self._pending:
            self._pending[event.camera].append(event)

    def has_pending(self, cam_id: str) -> bool:
        """Whether the camera has events waiting for its next frame (`on_frame` is a no-op otherwise)."""
        return bool(self._pending.get(cam_id))

    def on_frame(self, cam_id: str, frame: Frame, people: Detections) -> None:
        rec = self.recorders.get(cam_id)
        for ev in self._pending[cam_id]:
            jpeg = self._snapshot(cam_id, frame, people, ev) if ev.state == "start" else None
            if rec is not None:
                self._take(rec.on_event(ev, snapshot_jpeg=jpeg))
        self._pending[cam_id].clear()

    def _snapshot(self, cam_id: str, frame: Frame, people: Detections, ev: Event) -> bytes | None:
        zones = [(w.id, "post", w.post) for w in self.cfg.windows_of(cam_id)]
        zones += [(w.id, "counter", w.counter) for w in self.cfg.windows_of(cam_id) if w.counter]
        zones += [(a.id, "staff", a.zone) for a in self.cfg.staff_areas_of(cam_id)]
        try:
            return render_snapshot(frame.image, zones=zones, people=people, people_wh=frame.wh,
                                   title=f"{ev.type} {ev.window or ''} t={ev.t:.1f}s", face_blur=self.face_blur)
        except (ValueError, cv2.error) as e:
            log.error("camera %s: snapshot of %s failed: %s", cam_id, ev.event_id, e)
            return None

    def _take(self, done: list[ClipDone]) -> None:
        for d in done:
            self.done.append(d)
            if d.record.status == "complete":
                t = max(d.record.end_s if d.record.end_s is not None else d.event.t, d.event.t)
                self._by_clip[d.record.id] = (d.event, t)
                self._updates.append(clip_update(d.event, d.record.path, t=t))
                if self.uploader is not None:
                    self.uploader.enqueue(d.record)

    def poll(self) -> list[Event]:
        """Clip `update` events since the last call: local path when a clip is finished, the central
        URL when its video has been uploaded."""
        for rec in self.recorders.values():
            self._take(rec.poll())
        if self.uploader is not None:
            for up in self.uploader.drain_done():
                if up.kind == "video" and up.clip_id in self._by_clip:
                    ev, t = self._by_clip[up.clip_id]
                    # a t of its own: central drops an update whose event_id|state|t it has seen
                    self._updates.append(clip_update(ev, up.url, t=time.time() if self.live else t + 0.001))
        out, self._updates = self._updates, []
        self.history += out
        return out

    def protected_event_ids(self) -> set[str]:
        ids = set().union(*(r.open_event_ids for r in self.recorders.values()))
        return ids | (self.uploader.pending_event_ids() if self.uploader is not None else set())

    def maintain(self, now: float) -> list[ClipRecord]:
        """Retention over the clip dir; clips still recording or waiting for upload are protected."""
        return apply_retention(self.index, self.clips_cfg, self.protected_event_ids(), now)

    def stats(self) -> dict[str, int]:
        total: dict[str, int] = {}
        for rec in self.recorders.values():
            for k, v in rec.stats.items():
                total[k] = total.get(k, 0) + v
        return total

    def finish(self, upload_wait_s: float = 60.0) -> list[Event]:
        """Hand the events raised after the last frame to the recorders, close them, wait up to
        `upload_wait_s` for queued uploads, and return the remaining clip `update` events."""
        for cam_id, pending in self._pending.items():
            rec = self.recorders.get(cam_id)
            for ev in pending:
                if rec is not None:
                    self._take(rec.on_event(ev))
            pending.clear()
        for rec in self.recorders.values():
            self._take(rec.close())
        if self.uploader is not None:
            end = time.monotonic() + upload_wait_s
            while self.uploader.pending() and time.monotonic() < end:
                time.sleep(0.1)
            if self.uploader.pending():
                log.warning("clips: %d uploads still queued after %.0f s; they stay in the on-disk queue",
                            self.uploader.pending(), upload_wait_s)
        return self.poll()


class ReplayClips(NodeClips):
    """`NodeClips` hooked into a `Replay` (packets, events, frames); `finish()` after `run()`.

        clips = ReplayClips(cfg, replay, mics={"cam1": FileMic(...)})
        result = replay.run()
        updates = clips.finish()   # the `update` events carrying each finished clip in `clip`
    """

    def __init__(self, cfg: NodeConfig, replay: Replay, **kw: Any) -> None:
        inputs = mic_inputs(cfg)
        kw["mic_rates"] = {cam: AUDIO_RATE for cams in inputs.values() for cam in cams} | kw.get("mic_rates", {})
        super().__init__(cfg, live=False, **kw)
        self._inputs = inputs
        replay.audio_hooks.append(self.on_input_audio)  # the chunks the dispute rule reads: one decode
        for cam in cfg.cameras:
            replay.packet_hooks[cam.id].append(lambda p, s, cam_id=cam.id: self.on_packet(cam_id, p, s))
        replay.event_sinks.append(self.on_event)
        replay.frame_hooks.append(
            lambda cam_id, frame, new: self.on_frame(cam_id, frame, replay.pipelines[cam_id].state.people))

    def on_input_audio(self, key: str, chunk: AudioChunk) -> None:
        """An audio input's chunk (key as in edge/audio_pipeline.py) into the clips of its cameras."""
        for cam in self._inputs.get(key, ()):
            self.on_audio(cam, chunk)


def mic_inputs(cfg: NodeConfig) -> dict[str, list[str]]:
    """{audio input key: cameras whose clips carry it}: a window's microphone goes into the clips of the
    window's camera (input keys as edge/audio_pipeline.py names them: mic id, or "camera:<id>")."""
    out: dict[str, list[str]] = {}
    for w in cfg.windows:
        if w.microphone is None:
            continue
        key = f"camera:{w.camera}" if w.microphone == "camera" else w.microphone
        cams = out.setdefault(key, [])
        if w.camera not in cams and not any(w.camera in c for c in out.values()):
            cams.append(w.camera)  # one microphone per camera's clips: the first window's
    return out


def replay_uploader(cfg: NodeConfig) -> ClipUploader | None:
    """A started uploader when the config has `clips.upload`, else None."""
    if cfg.clips is None or cfg.clips.upload is None:
        return None
    up = ClipUploader(cfg.clips.upload, ClipIndex(cfg.clips.dir))
    up.start()
    return up


def demo_clips(cfg: NodeConfig, replay: Replay, out_dir: Path, central_url: str | None,
               publish: Callable[[Event], None] | None) -> ReplayClips:
    """Evidence clips for `hallwatch demo`: written under `<out_dir>/edge-clips` and, with a central
    service, uploaded with the node token the demo stack wrote (`<out_dir>/secrets/edge.token`); each
    clip `update` event (path, then URL) is published as soon as it is ready."""
    token = out_dir / "secrets" / "edge.token"
    upload = ClipUploadConfig(url=central_url, token_file=str(token)) if central_url and token.is_file() else None
    cfg.clips = ClipsConfig(dir=str(out_dir / "edge-clips"), upload=upload)
    uploader = None
    if upload is not None:
        uploader = ClipUploader(upload, ClipIndex(cfg.clips.dir), poll_s=0.2)
        uploader.start()
    clips = ReplayClips(cfg, replay, uploader=uploader)
    if publish is not None:
        replay.frame_hooks.append(lambda cam_id, frame, new: [publish(u) for u in clips.poll()])
    return clips
