"""`ClipRecorder`: one per camera; encoded packets and events in, finished evidence clips out.

    rec = ClipRecorder("cam1", cfg, index, container.streams.video[0], mic_rate=16000)
    for packet in container.demux(...):     # the frame loop, any thread
        done += rec.push_packet(packet)     # ring + open clips; never decodes H.264
    rec.push_audio(chunk)                   # microphone AudioChunk on the same media clock
    done += rec.on_event(event, snapshot_jpeg=jpeg)   # start: open with pre-roll; end: post-roll
    done += rec.close()

A clip starts at the last keyframe at or before `event.t - pre_s` (the start event's alert time), runs
until the first packet decoded after `end.t + post_s`, and a long incident is cut at the first keyframe
after `max_s` into continuation parts (part 1, 2, ...) that join seamlessly. Finishing a clip (flush,
fsync, remux to the final MP4, sha256) runs on one background thread unless `background=False` (replay
uses that for deterministic output). Write errors (disk full) fail that clip loudly (log, index status
`failed`, `stats['clips_failed']`) and never raise into the frame loop.
"""

from __future__ import annotations

import logging
import sqlite3
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import av

from detectors.types import AudioChunk, Event
from storage.clip_writer import ClipWriter, finalize_part, part_path, tmp_path, write_atomic
from storage.config import ClipsConfig
from storage.encoder import Transcoder
from storage.index import ClipIndex, ClipRecord
from storage.ring import PacketRing, RingPacket, SampleRing, packet_time_s, ring_packet, stream_start_s

log = logging.getLogger(__name__)
COPY_VIDEO = ("h264",)  # browsers play these as they come; anything else is encoded once
COPY_AUDIO = ("aac",)
_WRITE_ERRORS = (OSError, av.error.FFmpegError, sqlite3.Error, ValueError)


@dataclass(frozen=True)
class ClipDone:
    """A finished clip (record.status 'complete' or 'failed') and the latest event of its incident."""

    record: ClipRecord
    event: Event


@dataclass
class _Active:
    event: Event
    part: int
    clip_id: int
    final: Path
    writer: ClipWriter
    start_s: float  # media time of the first keyframe
    stop_at: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class _Waiting:
    start_t: float  # alert time of the start event: the pre-roll counts back from it
    event: Event  # the latest event of the incident
    stop_at: float | None
    snapshot: bytes | None


class ClipRecorder:
    """Evidence clips of one camera. video_stream: the input av stream the packets come from (its codec
    parameters are the clip's template). audio_stream: the camera's own audio stream, or None.
    mic_rate: sample rate of `push_audio` chunks from a separate microphone, or None for no microphone.
    live: False for replay (the encoder worker applies back-pressure instead of dropping frames)."""

    def __init__(self, camera: str, cfg: ClipsConfig, index: ClipIndex, video_stream: Any, *,
                 audio_stream: Any = None, mic_rate: int | None = None, background: bool = True,
                 live: bool = True) -> None:
        self.camera, self.cfg, self.index = camera, cfg, index
        self.stream = self._vstream = video_stream
        horizon = cfg.pre_s + cfg.ring_margin_s
        self._ring = PacketRing(horizon, int(cfg.ring_max_mb * 1e6))
        self._origin_v = stream_start_s(video_stream)
        self._transcoder: Transcoder | None = None
        if video_stream.codec_context.name not in COPY_VIDEO:
            fps = float(video_stream.average_rate or video_stream.guessed_rate or 10)
            self._transcoder = Transcoder(video_stream, fps=fps, preset=cfg.encode_preset, crf=cfg.encode_crf,
                                          queue_size=cfg.encode_queue, drop_when_busy=live)
            log.info("camera %s: %s is encoded once to H.264 for clips (preset %s)", camera,
                     video_stream.codec_context.name, cfg.encode_preset)
        self._astream = audio_stream
        if audio_stream is not None and audio_stream.codec_context.name not in COPY_AUDIO:
            log.warning("camera %s: audio codec %s is not AAC; clips carry the microphone audio only",
                        camera, audio_stream.codec_context.name)
            self._astream = None
        self._aring = PacketRing(horizon, 8_000_000, keyframes=False) if self._astream else None
        self._origin_a = stream_start_s(self._astream) if self._astream else 0.0
        self.mic_rate = mic_rate
        self._mic = SampleRing(horizon) if mic_rate else None
        self._active: dict[str, _Active] = {}
        self._waiting: dict[str, _Waiting] = {}  # started before the ring held a keyframe
        self._pool = ThreadPoolExecutor(1, thread_name_prefix=f"clip-finish-{camera}") if background else None
        self._futures: list[Future[ClipDone]] = []
        self.stats = {"packets": 0, "clips_started": 0, "clips_complete": 0, "clips_failed": 0,
                      "clips_recovered": 0, "bytes_written": 0, "encoder_dropped": 0}

    # --- inputs -------------------------------------------------------------------------------------
    @property
    def open_event_ids(self) -> set[str]:
        """Incidents whose clip is still being written (retention must not touch them)."""
        return set(self._active) | set(self._waiting)

    def push_packet(self, packet: Any, ts_s: float | None = None) -> list[ClipDone]:
        """Add one demuxed packet (video of `video_stream` or audio of `audio_stream`). ts_s: its
        presentation time on the media clock; default (pts - stream start) * time_base."""
        if packet.size == 0 or (packet.pts is None and packet.dts is None):
            return self._collect()
        if packet.stream.type == "audio":
            if self._aring is not None:
                self._push_audio_packet(packet, ts_s)
            return self._collect()
        self.stats["packets"] += 1
        if self._transcoder is not None:
            self._transcoder.submit(packet, ts_s if ts_s is not None else packet_time_s(packet, self._origin_v))
            self.stats["encoder_dropped"] = self._transcoder.dropped
            for rp in self._transcoder.drain():
                self._push_video(rp)
        else:
            self._push_video(ring_packet(packet, self._origin_v, ts_s))
        return self._collect()

    def push_audio(self, chunk: AudioChunk) -> None:
        """Add microphone samples (mono float32, `mic_rate` Hz) on the camera's media clock."""
        if self._mic is None:
            return
        self._mic.push(chunk)
        for a in list(self._active.values()):
            if a.stop_at is None or chunk.ts <= a.stop_at:  # no sound past the clip's last picture
                self._guard(a, a.writer.write_samples, chunk)

    def on_event(self, event: Event, snapshot_jpeg: bytes | None = None) -> list[ClipDone]:
        """React to one event of this camera: start opens a clip (with pre-roll), end schedules its
        close at `t + post_s`. The snapshot (JPEG bytes) is stored beside the first part."""
        a = self._active.get(event.event_id)
        eid = event.event_id
        stop_at = event.t + self.cfg.post_s if event.state == "end" else None
        if event.state == "start" and a is None and eid not in self._waiting:
            self._waiting[eid] = _Waiting(event.t, event, None, snapshot_jpeg)
            self._open_waiting()
        elif a is not None:
            a.event = event
            a.stop_at = stop_at if stop_at is not None else a.stop_at
        elif eid in self._waiting:  # still waiting for a keyframe (e.g. the encoder lags): remember
            w = self._waiting[eid]
            w.event, w.stop_at = event, stop_at if stop_at is not None else w.stop_at
        return self._collect()

    def poll(self) -> list[ClipDone]:
        """Clips finished (on the background thread) since the last call."""
        return self._collect()

    def close(self) -> list[ClipDone]:
        """Finish every open clip with what it has, stop the workers, return all finished clips."""
        if self._transcoder is not None:
            for rp in self._transcoder.close():
                self._push_video(rp)
        for eid in list(self._active):
            self._finish(eid)
        self._waiting.clear()
        done = self._collect(wait=True)
        if self._pool is not None:
            self._pool.shutdown(wait=True)
        return done

    # --- internals ----------------------------------------------------------------------------------
    def _push_audio_packet(self, packet: Any, ts_s: float | None) -> None:
        rp = ring_packet(packet, self._origin_a, ts_s)
        self._aring.push(rp)
        for a in list(self._active.values()):
            self._guard(a, a.writer.write_audio_packet, rp)

    def _push_video(self, rp: RingPacket) -> None:
        self._ring.push(rp)
        for eid, a in list(self._active.items()):
            if a.stop_at is not None and rp.dts_s > a.stop_at:
                self._finish(eid)
            elif rp.is_key and rp.pts_s - a.start_s >= self.cfg.max_s:
                self._finish(eid)
                self._open(a.event, a.part + 1, [rp], None, stop_at=a.stop_at)
            else:
                self._guard(a, a.writer.write_video, rp)
        if self._waiting and rp.is_key:
            self._open_waiting()

    def _open_waiting(self) -> None:
        template = self._template()
        for eid, w in list(self._waiting.items()):
            pre = self._ring.since(w.start_t - self.cfg.pre_s)
            if template is None or not pre:
                continue  # no keyframe yet: opens at the first one
            del self._waiting[eid]
            self._open(w.event, 0, pre, w.snapshot, stop_at=w.stop_at)

    def _template(self) -> Any:
        return self._transcoder.template if self._transcoder is not None else self._vstream

    def _open(self, event: Event, part: int, pre: list[RingPacket], snapshot_jpeg: bytes | None,
              stop_at: float | None = None) -> None:
        origin, start = pre[0].dts_s, pre[0].pts_s
        day = time.strftime("%Y%m%d", time.gmtime())
        rel = f"{self.camera}/{day}/{event.event_id}-{part}.mp4"
        final = self.index.abspath(rel)
        try:
            final.parent.mkdir(parents=True, exist_ok=True)
            cid = self.index.begin(event_id=event.event_id, part=part, camera=self.camera,
                                   window=event.window, type=event.type, path=rel, start_s=start)
            writer = ClipWriter(part_path(final), self._template(), origin, audio_template=self._astream,
                                mic_rate=self.mic_rate, audio_bitrate=self.cfg.audio_bitrate)
        except _WRITE_ERRORS as e:
            self.stats["clips_failed"] += 1
            log.error("camera %s: clip of %s not started: %s", self.camera, event.event_id, e)
            return
        a = _Active(event, part, cid, final, writer, start, stop_at)
        self._active[event.event_id] = a
        self.stats["clips_started"] += 1
        if snapshot_jpeg is not None:
            self._save_snapshot(a, rel, snapshot_jpeg)
        chunks = self._mic.since(origin) if self._mic is not None else []
        for rp in pre:  # interleave pre-roll audio and video by time
            while chunks and chunks[0].ts <= rp.dts_s:
                self._guard(a, writer.write_samples, chunks.pop(0))
            self._guard(a, writer.write_video, rp)
        for c in chunks:
            self._guard(a, writer.write_samples, c)
        if self._aring is not None:
            for rp in self._aring.since(origin):
                self._guard(a, writer.write_audio_packet, rp)

    def _save_snapshot(self, a: _Active, rel: str, jpeg: bytes) -> None:
        snap = rel[:-4] + ".jpg"
        try:
            write_atomic(self.index.abspath(snap), jpeg)
            self.index.set_snapshot(a.clip_id, snap)
        except _WRITE_ERRORS as e:
            log.error("camera %s: snapshot of %s not saved: %s", self.camera, a.event.event_id, e)

    def _guard(self, a: _Active, fn: Any, arg: Any) -> None:
        if a.event.event_id not in self._active or self._active[a.event.event_id] is not a:
            return  # already failed
        try:
            fn(arg)
        except _WRITE_ERRORS as e:
            del self._active[a.event.event_id]
            a.writer.abort()
            self._fail(a, f"write failed: {e}")

    def _fail(self, a: _Active, msg: str) -> None:
        self.stats["clips_failed"] += 1
        log.error("camera %s: clip %s of %s failed: %s", self.camera, a.final.name, a.event.event_id, msg)
        try:
            self.index.fail(a.clip_id, msg)
        except sqlite3.Error as e:
            log.error("camera %s: clip index not updated for %s: %s", self.camera, a.final.name, e)

    def _finish(self, eid: str) -> None:
        a = self._active.pop(eid)
        if self._pool is not None:
            self._futures.append(self._pool.submit(self._finalize, a))
        else:
            f: Future[ClipDone] = Future()
            f.set_result(self._finalize(a))
            self._futures.append(f)

    def _finalize(self, a: _Active) -> ClipDone:
        try:
            a.writer.close()
            fin = finalize_part(a.writer.path, a.final)
            end = a.start_s if fin.last_pts_s is None else a.writer.origin_s + fin.last_pts_s
            self.index.complete(a.clip_id, start_s=a.start_s, end_s=end, size_bytes=fin.size_bytes,
                                sha256=fin.sha256)
            self.stats["clips_complete"] += 1
            self.stats["bytes_written"] += fin.size_bytes
        except _WRITE_ERRORS as e:
            for leftover in (a.writer.path, tmp_path(a.final)):  # never leave a half file behind
                leftover.unlink(missing_ok=True)
            self._fail(a, f"finish failed: {e}")
        rec = self.index.get(a.clip_id)
        assert rec is not None
        return ClipDone(rec, a.event)

    def _collect(self, wait: bool = False) -> list[ClipDone]:
        if not self._futures:
            return []
        ready = [f for f in self._futures if wait or f.done()]
        self._futures = [f for f in self._futures if f not in ready]
        return [f.result() for f in ready]
