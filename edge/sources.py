"""Video sources through PyAV: files (MP4, GIF, ...), RTSP/HTTP streams and local capture devices.

A source demuxes the camera's encoded packets (handed to an optional `on_packet` callback, for the clip
ring: packets are never re-encoded) and decodes frames, of which it yields those that fall on the
camera's `detect_fps` grid, as `Frame`s with their own timestamps: presentation time since the start
for files, capture epoch time for live streams.

Live sources reconnect with exponential backoff (capped at `reconnect_max_s`) and count every drop;
files fail with one clear `SourceError`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import av
import numpy as np

from detectors import i420
from detectors.types import Frame

log = logging.getLogger(__name__)

PacketCallback = Callable[[av.Packet, av.video.stream.VideoStream], None]


class SourceError(Exception):
    """A source that cannot be opened or read; the message names the camera and the source."""


@dataclass
class SourceStats:
    decoded: int = 0
    yielded: int = 0
    decode_errors: int = 0
    reconnects: int = 0
    last_error: str | None = None


def is_live(source: str) -> bool:
    return source.startswith(("rtsp://", "rtsps://", "rtmp://", "http://", "https://", "udp://", "tcp://",
                              "/dev/", "v4l2:", "avfoundation:", "dshow:"))


def _open_args(source: str) -> tuple[str, dict]:
    """The url and keyword arguments for av.open."""
    if source.startswith("/dev/video") or source.startswith("v4l2:"):
        return source.removeprefix("v4l2:"), {"format": "v4l2"}
    for fmt in ("avfoundation", "dshow"):
        if source.startswith(fmt + ":"):
            return source.split(":", 1)[1], {"format": fmt}
    if source.startswith(("rtsp://", "rtsps://")):
        # TCP avoids the smeared frames of lost UDP packets; the timeout (microseconds) bounds a dead socket.
        return source, {"options": {"rtsp_transport": "tcp", "stimeout": "5000000", "timeout": "5000000"}}
    return source, {}


class VideoSource:
    """Iterate over analysed frames of one camera.

    Args:
        camera_id: for messages.
        source: file path, stream url or device.
        detect_fps: analysed frames per second (frames in between are decoded but not converted).
        decoder_threads: FFmpeg decoder threads; 1 costs least CPU per frame (MEASUREMENTS.md).
        on_packet: called with every encoded video packet (for the pre-roll ring), before decoding.
        live: force live/file behaviour; default from the source string.
        max_width: downscale analysed frames wider than this (keeps the aspect ratio); None keeps size.
        pixel_format: "bgr24" yields (H, W, 3) BGR frames; "i420" yields the decoder's planar YUV 4:2:0 as
            an (H * 3 / 2, W) buffer (detectors.i420), what the live node's capture puts in its rings. Both
            convert the same way (OpenCV, BT.601), so live and replay see the same pixels.
        pace: called with each packet's time (seconds since the first packet, decode order) before it is handled; a
            paced file sleeps there until the packet is due, so packets arrive as a camera would send them.
    """

    def __init__(self, camera_id: str, source: str, *, detect_fps: float, decoder_threads: int = 1,
                 on_packet: PacketCallback | None = None, live: bool | None = None,
                 max_width: int | None = None, reconnect_max_s: float = 30.0,
                 max_reconnects: int | None = None, pixel_format: Literal["bgr24", "i420"] = "bgr24",
                 pace: Callable[[float], None] | None = None) -> None:
        if detect_fps <= 0:
            raise ValueError(f"camera {camera_id}: detect_fps must be > 0, got {detect_fps}")
        self.camera_id = camera_id
        self.source = source
        self.detect_fps = float(detect_fps)
        self.decoder_threads = decoder_threads
        self.on_packet = on_packet
        self.live = is_live(source) if live is None else live
        self.max_width = max_width
        self.reconnect_max_s = reconnect_max_s
        self.max_reconnects = max_reconnects
        if pixel_format not in ("bgr24", "i420"):
            raise ValueError(f"camera {camera_id}: pixel_format must be 'bgr24' or 'i420', got {pixel_format!r}")
        self.pixel_format = pixel_format
        self.pace = pace
        self._next_t: float | None = None  # the next analysed slot (seconds, the frames' clock)
        self._t0: float | None = None  # files: pts of the first frame
        self._last_ts: float | None = None  # timestamp of the last frame out of the decoder
        self.stats = SourceStats()
        self.stream: av.video.stream.VideoStream | None = None
        if not self.live and not Path(source).exists():
            raise SourceError(f"camera {camera_id}: file not found: {source}")

    def _open(self) -> av.container.InputContainer:
        url, kw = _open_args(self.source)
        try:
            container = av.open(url, **kw)
        except (av.FFmpegError, OSError) as exc:
            raise SourceError(f"camera {self.camera_id}: cannot open {self.source}: {exc}") from None
        if not container.streams.video:
            container.close()
            raise SourceError(f"camera {self.camera_id}: {self.source} has no video stream")
        stream = container.streams.video[0]
        stream.codec_context.thread_count = self.decoder_threads
        stream.thread_type = "AUTO" if self.decoder_threads > 1 else "SLICE"
        self.stream = stream
        return container

    def __iter__(self) -> Iterator[Frame]:
        if not self.live:
            yield from self._frames(self._open())
            return
        backoff = 0.5
        while True:
            try:
                container = self._open()
                backoff = 0.5
                yield from self._frames(container)
                log.warning("camera %s: stream ended; reconnecting", self.camera_id)
            except SourceError as exc:
                log.warning("%s; retrying in %.1f s", exc, backoff)
                self.stats.last_error = str(exc)
            self.stats.reconnects += 1
            if self.max_reconnects is not None and self.stats.reconnects > self.max_reconnects:
                raise SourceError(f"camera {self.camera_id}: gave up after {self.max_reconnects} reconnects "
                                  f"({self.stats.last_error})")
            time.sleep(backoff)
            backoff = min(backoff * 2.0, self.reconnect_max_s)

    def _frames(self, container: av.container.InputContainer) -> Iterator[Frame]:
        """Demux every packet as it comes (the clip ring gets it at once) but decode lazily: the frames
        between two analysed ones are only references for the next one, so packets wait until one whose
        time reaches the next analysed slot arrives, and then all are decoded in one burst. Same frames,
        same timestamps, no added latency for the analysed frame, and the decoder's state stays in cache
        across the burst instead of being woken for every frame."""
        stream = self.stream
        assert stream is not None
        rate = float(stream.average_rate or stream.guessed_rate or 25)
        tb = float(stream.time_base) if stream.time_base else None
        max_pending = max(16, int(3 * rate / self.detect_fps))
        self._next_t = None
        self._t0 = None
        pkt_t0: float | None = None
        pending: list[av.Packet] = []
        lead = 0.0
        self._last_ts = None
        arrivals: dict[int, float] = {}  # live: packet pts -> wall time it arrived (the frame's timestamp)
        try:
            for packet in container.demux(stream):
                if packet.dts is None and packet.size == 0:  # end of stream: drain the decoder's last frames
                    pending.append(packet)
                    break
                # the packet's time since the first packet in decode order (dts: what a camera sends at a
                # steady rate; pts jumps around B-frames)
                stamp = packet.dts if packet.dts is not None else packet.pts
                rel = None
                if stamp is not None and tb:
                    pkt_t0 = stamp * tb if pkt_t0 is None else pkt_t0
                    rel = stamp * tb - pkt_t0
                if self.pace is not None and rel is not None:
                    self.pace(rel)
                when = time.time() if self.live else rel
                if self.live and packet.pts is not None:
                    arrivals[packet.pts] = when  # type: ignore[assignment]
                if self.on_packet is not None:
                    self.on_packet(packet, stream)
                pending.append(packet)
                if (when is not None and self._next_t is not None and when < self._next_t + lead - 1e-6
                        and len(pending) < max_pending):
                    continue
                for pkt in pending:
                    yield from self._decode(pkt, rate, arrivals)
                pending.clear()
                if when is not None and self._last_ts is not None:
                    # how far packets run ahead of the frames they give (B-frame reordering; 0 without): the
                    # frame of the next slot comes out only once packets that far past it are decoded
                    lead = max(0.0, when - self._last_ts)
            for pkt in pending:
                yield from self._decode(pkt, rate, arrivals)
        except av.FFmpegError as exc:
            if self.live:
                raise SourceError(f"camera {self.camera_id}: stream error: {exc}") from None
            raise SourceError(f"camera {self.camera_id}: cannot decode {self.source}: {exc}") from None
        finally:
            container.close()

    def _decode(self, packet: av.Packet, rate: float, arrivals: dict[int, float]) -> Iterator[Frame]:
        """Decode one packet; yield its frames that fall on the analysis grid."""
        try:
            frames = packet.decode()
        except av.InvalidDataError as exc:
            self.stats.decode_errors += 1
            log.debug("camera %s: bad packet skipped: %s", self.camera_id, exc)
            return
        for vf in frames:
            self.stats.decoded += 1
            if self.live:
                ts = arrivals.pop(vf.pts, None) if vf.pts is not None else None
                ts = time.time() if ts is None else ts
                if len(arrivals) > 256:  # pts the decoder never returned (corrupt input): forget the oldest
                    for k in list(arrivals)[:128]:
                        del arrivals[k]
            else:
                pts = vf.time if vf.pts is not None else self.stats.decoded / rate
                self._t0 = pts if self._t0 is None else self._t0
                ts = pts - self._t0
            self._last_ts = ts
            if self._next_t is not None and ts < self._next_t - 1e-6:
                continue
            # Stay on the grid (t0 + k * step) so resampling does not drift with jitter.
            step = 1.0 / self.detect_fps
            self._next_t = ts + step if self._next_t is None else max(self._next_t + step, ts + step * 0.5)
            self.stats.yielded += 1
            yield Frame(ts=ts, image=self._image(vf), index=self.stats.decoded - 1)

    def _image(self, vf: av.VideoFrame) -> np.ndarray:
        """The analysed frame in `pixel_format`. Even-sized 4:2:0 frames (what cameras send) are copied out
        as decoded and converted by OpenCV; other formats and downscaling go through swscale."""
        w, h = vf.width, vf.height
        if self.max_width and w > self.max_width:
            w, h = self.max_width, int(round(vf.height * self.max_width / vf.width / 2) * 2)
        native = vf.format.name == "yuv420p" and (w, h) == (vf.width, vf.height) and not (w % 2 or h % 2)
        if self.pixel_format == "bgr24":
            return i420.to_bgr(vf.to_ndarray()) if native else vf.to_ndarray(format="bgr24", width=w, height=h)
        if native:
            return vf.to_ndarray()
        return vf.to_ndarray(format="yuv420p", width=w & ~1, height=h & ~1)


def probe_duration_s(source: str) -> float | None:
    """Duration of a recorded file in seconds, or None when unknown (for progress bars)."""
    try:
        with av.open(source) as c:
            if c.duration:
                return c.duration / 1_000_000
            s = c.streams.video[0] if c.streams.video else None
            if s is not None and s.duration and s.time_base:
                return float(s.duration * s.time_base)
    except (av.FFmpegError, OSError):
        return None
    return None
