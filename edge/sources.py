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
    """

    def __init__(self, camera_id: str, source: str, *, detect_fps: float, decoder_threads: int = 1,
                 on_packet: PacketCallback | None = None, live: bool | None = None,
                 max_width: int | None = None, reconnect_max_s: float = 30.0,
                 max_reconnects: int | None = None, pixel_format: Literal["bgr24", "i420"] = "bgr24") -> None:
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
        stream = self.stream
        assert stream is not None
        step = 1.0 / self.detect_fps
        next_t: float | None = None
        t0: float | None = None
        rate = float(stream.average_rate or stream.guessed_rate or 25)
        try:
            for packet in container.demux(stream):
                if packet.dts is None and packet.size == 0:
                    continue  # the flush packet at the end
                if self.on_packet is not None:
                    self.on_packet(packet, stream)
                try:
                    frames = packet.decode()
                except av.InvalidDataError as exc:
                    self.stats.decode_errors += 1
                    log.debug("camera %s: bad packet skipped: %s", self.camera_id, exc)
                    continue
                for vf in frames:
                    self.stats.decoded += 1
                    if self.live:
                        ts = time.time()
                    else:
                        pts = vf.time if vf.pts is not None else self.stats.decoded / rate
                        t0 = pts if t0 is None else t0
                        ts = pts - t0
                    if next_t is not None and ts < next_t - 1e-6:
                        continue
                    # Stay on the grid (t0 + k * step) so resampling does not drift with jitter.
                    next_t = ts + step if next_t is None else max(next_t + step, ts + step * 0.5)
                    self.stats.yielded += 1
                    yield Frame(ts=ts, image=self._image(vf), index=self.stats.decoded - 1)
        except av.FFmpegError as exc:
            if self.live:
                raise SourceError(f"camera {self.camera_id}: stream error: {exc}") from None
            raise SourceError(f"camera {self.camera_id}: cannot decode {self.source}: {exc}") from None
        finally:
            container.close()

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
