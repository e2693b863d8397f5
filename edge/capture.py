"""Capture processes: one per camera, decoding with PyAV and writing analysed frames into the camera's
shared-memory ring; only (slot, generation, timestamps) travel to the main process, over pyzmq.

Messages to the main process (pickled tuples on a PUSH socket):
    ("hello", camera_index, RingSpec)                       once, when the frame size is known
    ("frame", camera_index, slot, gen, ts, put_wall)         per stored frame
    ("stats", camera_index, {decoded, stored, dropped, late, cpu_s, lag_s})   every `stats_every_s`
    ("eof", camera_index, reason)                            when the source ends or fails
The ring is the bounded queue (policy drop_newest, see edge.frame_ring); the socket's high-water mark is
above the slot count, so a send never blocks.

Frames are stored as the decoder made them (I420, `pixel_format`): the capture converts nothing; the node
reads the Y plane for motion and the detector converts only its crops (detectors.i420).

`PacedFile` plays a file like a live camera: from `start_s` into it, at its own frame rate (sleeping until
each packet is due, as a camera would send it; the source decodes lazily, see edge.sources), looping at
the end, timestamps continuing; a frame decoded later than `late_after_s`
after it was due counts as late (the node's CPU is not keeping up with decoding).
"""

from __future__ import annotations

import logging
import os
import pickle
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

import av

from detectors.types import Frame
from edge.frame_ring import FrameRing, PixelFormat
from edge.sources import SourceError, VideoSource, is_live

if TYPE_CHECKING:
    from edge.capture_clips import CaptureClips

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class CaptureSpec:
    index: int
    camera_id: str
    source: str
    detect_fps: float
    address: str
    decoder_threads: int = 1
    ring_slots: int = 4
    paced: bool = True  # files: play at their own rate, like a camera
    loop: bool = False
    start_s: float = 0.0
    late_after_s: float = 1.0
    stats_every_s: float = 2.0
    reconnect_max_s: float = 30.0
    nice: int = 0
    speed: float = 1.0  # paced files: play this many times faster than real time (tests, demos)
    clips: dict | None = None  # ClipsConfig of the node: record evidence clips here (edge/node_clips.py)
    clip_address: str | None = None  # where the node sends this camera's clip commands
    mic_rate: int | None = None  # sample rate of microphone audio for this camera's clips
    pixel_format: PixelFormat = "i420"  # what the ring holds: the decoder's I420 (half of BGR's bytes, no conversion)


class _SeekingSource(VideoSource):
    """A source that starts `start_s` seconds in (at the keyframe before); with `clips`, its containers
    are closed only once the clip recorder using their stream is done (edge/node_clips.py)."""

    def __init__(self, *args, start_s: float = 0.0, clips: CaptureClips | None = None, **kw) -> None:
        super().__init__(*args, on_packet=clips.on_packet if clips else None, **kw)
        self.start_s = start_s
        self.clips = clips

    def _open(self) -> av.container.InputContainer:
        container = super()._open()
        if self.start_s > 0:
            container.seek(int(self.start_s * av.time_base), backward=True, any_frame=False)
        return self.clips.wrap(container) if self.clips is not None else container


class PacedFile:
    """Frames of a file at its own rate from `start_s`, optionally looping; `late` counts frames behind."""

    def __init__(self, spec: CaptureSpec, clips: CaptureClips | None = None) -> None:
        self.spec = spec
        self.clips = clips
        self.late = 0
        self.lag_s = 0.0  # how far behind its due time the last frame was yielded
        self._decoded_before = 0
        self._src: VideoSource | None = None

    @property
    def decoded(self) -> int:
        return self._decoded_before + (self._src.stats.decoded if self._src is not None else 0)

    def __iter__(self) -> Iterator[Frame]:
        s = self.spec
        offset, start = 0.0, s.start_s
        t_wall0 = time.monotonic()
        while True:
            if self._src is not None:
                self._decoded_before += self._src.stats.decoded
            pace = self._pacer(t_wall0, offset) if s.paced else None
            src = self._src = _SeekingSource(s.camera_id, s.source, detect_fps=s.detect_fps, live=False,
                                             decoder_threads=s.decoder_threads, start_s=start, clips=self.clips,
                                             pixel_format=s.pixel_format, pace=pace)
            if self.clips is not None:
                self.clips.ts_offset = offset
            last = 0.0
            for frame in src:
                ts = offset + frame.ts
                if s.paced:
                    self.lag_s = time.monotonic() - (t_wall0 + ts / s.speed)
                    self.late += self.lag_s > s.late_after_s
                last = frame.ts
                yield Frame(ts, frame.image, frame.index)
            if not s.loop:
                return
            offset += last + 1.0 / s.detect_fps
            start = 0.0

    def _pacer(self, t_wall0: float, offset: float) -> Callable[[float], None]:
        """Sleep until a packet at `rel` seconds into this pass over the file is due (the camera sends it)."""
        speed = self.spec.speed

        def pace(rel: float) -> None:
            lag = time.monotonic() - (t_wall0 + (offset + rel) / speed)
            if lag < 0:
                time.sleep(-lag)

        return pace


def _frames(spec: CaptureSpec, clips: CaptureClips | None) -> tuple[Iterator[Frame], PacedFile | VideoSource]:
    if is_live(spec.source):
        if clips is not None:
            clips.live = True
        src = _SeekingSource(spec.camera_id, spec.source, detect_fps=spec.detect_fps, live=True, clips=clips,
                             decoder_threads=spec.decoder_threads, reconnect_max_s=spec.reconnect_max_s,
                             pixel_format=spec.pixel_format)
        return iter(src), src
    paced = PacedFile(spec, clips)
    return iter(paced), paced


def _clips(spec: CaptureSpec) -> CaptureClips | None:
    if spec.clips is None or spec.clip_address is None:
        return None
    from edge.capture_clips import CaptureClips

    clips = CaptureClips(spec.camera_id, spec.index, spec.clips, spec.clip_address, mic_rate=spec.mic_rate)
    clips.start()
    return clips


def _send_clips(sock, spec: CaptureSpec, clips: CaptureClips | None) -> None:  # noqa: ANN001 - zmq socket
    for kind, payload in clips.messages() if clips is not None else ():
        sock.send(pickle.dumps((kind, spec.index, payload)))


def _wait_released(ring: FrameRing | None, timeout_s: float = 5.0) -> None:
    deadline = time.monotonic() + timeout_s
    while ring is not None and ring.held() and time.monotonic() < deadline:
        time.sleep(0.05)


def capture_main(spec: CaptureSpec, stop) -> None:  # noqa: ANN001 - a multiprocessing Event
    """Process entry: decode until the source ends or `stop` is set, then wait for the ring to be handed
    back (the main process may still hold frames) and remove it."""
    import zmq

    logging.basicConfig(level=logging.WARNING)
    if spec.nice:
        os.nice(spec.nice)
    sock = zmq.Context.instance().socket(zmq.PUSH)
    sock.setsockopt(zmq.SNDHWM, max(1000, 4 * spec.ring_slots))
    sock.setsockopt(zmq.LINGER, 2000)
    sock.connect(spec.address)
    ring: FrameRing | None = None
    clips = _clips(spec)
    frames, src = _frames(spec, clips)
    last_stats = time.monotonic()
    lag = 0.0
    reason = "ended"
    try:
        for frame in frames:
            if stop.is_set():
                reason = "stopped"
                break
            if ring is None:
                ring = FrameRing.create(spec.ring_slots, frame.image.shape, pixel_format=spec.pixel_format)
                sock.send(pickle.dumps(("hello", spec.index, ring.spec)))
            lag = src.lag_s if isinstance(src, PacedFile) else max(0.0, time.time() - frame.ts)
            got = ring.put(frame.image, frame.ts)
            if got is not None:
                sock.send(pickle.dumps(("frame", spec.index, got[0], got[1], frame.ts, time.time())))
            _send_clips(sock, spec, clips)
            now = time.monotonic()
            if now - last_stats >= spec.stats_every_s:
                last_stats = now
                sock.send(pickle.dumps(("stats", spec.index, _stats(ring, src, lag))))
    except SourceError as exc:
        log.error("%s", exc)
        reason = f"error: {exc}"
    finally:
        if ring is not None:
            sock.send(pickle.dumps(("stats", spec.index, _stats(ring, src, lag))))
        if clips is not None:  # the node handles the frames still queued (their events reach the clips)
            _wait_released(ring)
            clips.finish()
            _send_clips(sock, spec, clips)
        sock.send(pickle.dumps(("eof", spec.index, reason)))
        _wait_released(ring)
        if ring is not None:
            ring.close()
        sock.close()


def _stats(ring: FrameRing | None, src: PacedFile | VideoSource, lag_s: float) -> dict[str, float]:
    decoded = src.decoded if isinstance(src, PacedFile) else src.stats.decoded
    return {"stored": ring.stored if ring else 0, "dropped": ring.dropped if ring else 0,
            "late": getattr(src, "late", 0), "decoded": decoded, "cpu_s": time.process_time(), "lag_s": lag_s}
