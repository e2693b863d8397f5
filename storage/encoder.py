"""Encode sources that are not H.264 (GIF, MJPEG, raw device frames) to H.264 once, in a worker thread.

Every frame of such a camera is encoded exactly once, continuously, into H.264 packets that then go
through the same pre-roll ring and remux path as a real H.264 camera; a clip never encodes again. The
frame loop only puts a packet reference (or a frame array) on a bounded queue: when the queue is full
the new item is dropped (policy `drop_newest`) and counted in `dropped`, so the live loop never waits.
Replay, which runs faster than real time and must be deterministic, waits instead (`drop_when_busy`).

libx264 settings: preset `veryfast` (config `clips.encode_preset`), CRF 23, 1 s GOP (pre-roll granularity),
no B-frames, `tune=zerolatency` (no lookahead buffer) and 1 thread (the node's cores belong to detection).
The worker decodes the source packets with its own decoder: the frame loop's decoder only produces the
small analysis frames at detect fps.
"""

from __future__ import annotations

import io
import logging
import queue
import threading
from fractions import Fraction
from typing import Any

import av
import numpy as np

from storage.ring import RingPacket

log = logging.getLogger(__name__)
ENCODER_TB = Fraction(1, 1000)  # ms ticks for encoded packets
DROP_POLICY = "drop_newest"


class Transcoder:
    """Worker thread: source packets or BGR frames (with media times) in, H.264 RingPackets out.

    input_stream: the av input stream the packets come from (None when only `submit_frame` is used).
    fps: nominal frame rate (for the GOP length); width/height: needed only for `submit_frame`.
    """

    def __init__(self, input_stream: Any = None, *, fps: float = 10.0, preset: str = "veryfast",
                 crf: int = 23, queue_size: int = 64, drop_when_busy: bool = True,
                 width: int | None = None, height: int | None = None) -> None:
        self._in: queue.Queue[tuple[Any, float] | None] = queue.Queue(maxsize=queue_size)
        self._out: list[RingPacket] = []
        self.drop_when_busy = drop_when_busy  # False in replay: wait (back-pressure) instead of dropping
        self._lock = threading.Lock()
        self._decoder = None
        if input_stream is not None:
            src = input_stream.codec_context
            self._decoder = av.CodecContext.create(src.name, "r")
            if src.extradata:
                self._decoder.extradata = src.extradata
            if src.width:
                self._decoder.width, self._decoder.height = src.width, src.height
        self.fps = fps if fps and fps > 0 else 10.0
        self._opts = {"preset": preset, "crf": str(crf), "g": str(max(1, round(self.fps))), "bf": "0",
                      "tune": "zerolatency", "threads": "1"}
        self._wh = (width, height)
        self._sink: Any = None
        self._stream: Any = None
        self.template: Any = None  # the encoder's stream, usable with add_stream_from_template
        self.dropped = 0
        self.frames_encoded = 0
        self.errors = 0
        self._thread = threading.Thread(target=self._run, name="clip-encoder", daemon=True)
        self._thread.start()

    # --- frame loop side ------------------------------------------------------------------------------
    def submit(self, item: Any, ts_s: float) -> bool:
        """Queue an av.Packet of the input stream, or a BGR uint8 (H, W, 3) array; False if dropped."""
        if not self.drop_when_busy:
            self._in.put((item, ts_s))
            return True
        try:
            self._in.put_nowait((item, ts_s))
            return True
        except queue.Full:
            self.dropped += 1
            return False

    def drain(self) -> list[RingPacket]:
        """Encoded packets ready since the last call, in decode order."""
        with self._lock:
            out, self._out = self._out, []
        return out

    def close(self, timeout_s: float = 30.0) -> list[RingPacket]:
        """Encode what is queued, flush the encoder, stop the thread; return the last packets."""
        self._in.put((None, 0.0))
        self._thread.join(timeout_s)
        if self._thread.is_alive():
            log.error("clip encoder did not stop within %.0f s; %d packets still queued", timeout_s,
                      self._in.qsize())
        return self.drain()

    # --- worker side ----------------------------------------------------------------------------------
    def _run(self) -> None:
        while True:
            item, ts_s = self._in.get()
            if item is None:
                break
            try:
                if isinstance(item, np.ndarray):
                    self._encode(av.VideoFrame.from_ndarray(item, format="bgr24"), ts_s)
                    continue
                # GIF, MJPEG and raw video have no frame reordering: a packet's frame has its time.
                for frame in self._decoder.decode(item):
                    self._encode(frame, ts_s)
            except (av.error.FFmpegError, ValueError) as e:
                self.errors += 1
                log.warning("clip encoder: frame at %.3f s skipped: %s", ts_s, e)
        if self._stream is not None:
            try:
                self._collect(self._stream.encode(None))
            except av.error.FFmpegError as e:
                log.warning("clip encoder: flush failed: %s", e)

    def _open(self, frame: Any) -> None:
        w, h = (frame.width // 2) * 2, (frame.height // 2) * 2  # yuv420p needs even sizes
        self._sink = av.open(io.BytesIO(), "w", format="mp4")
        st = self._sink.add_stream("libx264", rate=Fraction(round(self.fps * 1000), 1000),
                                   options=dict(self._opts))
        st.width, st.height, st.pix_fmt = w, h, "yuv420p"
        st.codec_context.time_base = ENCODER_TB
        self._stream = st

    def _encode(self, frame: Any, ts_s: float) -> None:
        if self._stream is None:
            self._open(frame)
        st = self._stream
        f = frame.reformat(width=st.width, height=st.height, format="yuv420p")
        f.pts = int(round(ts_s / ENCODER_TB))
        f.time_base = ENCODER_TB
        packets = st.encode(f)
        self.frames_encoded += 1
        if self.template is None and st.codec_context.is_open:
            self._sink.start_encoding()  # fills the stream's codec parameters (SPS/PPS) for templates
            self.template = st
        self._collect(packets)

    def _collect(self, packets: list[Any]) -> None:
        ready = []
        for p in packets:
            if p.pts is None or p.size == 0:
                continue
            tb = p.time_base or ENCODER_TB
            ready.append(RingPacket(p, tb, float(p.pts * tb), float((p.dts if p.dts is not None else p.pts) * tb),
                                    int(p.pts), int(p.dts if p.dts is not None else p.pts), bool(p.is_keyframe),
                                    p.size))
        if ready:
            with self._lock:
                self._out.extend(ready)
