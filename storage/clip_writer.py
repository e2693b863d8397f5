"""Writing one clip: copy the camera's H.264 packets (and AAC audio, if any) into MP4 without decoding,
and encode microphone samples to AAC beside them.

Two steps keep a crash from leaving a half file that looks complete:
1. `ClipWriter` writes a fragmented MP4 (`frag_keyframe+empty_moov`) to `<name>.part.mp4`: each GOP is
   a self-contained fragment, so whatever reached the disk before a kill -9 can still be read back.
2. `finalize_part()` remuxes (stream copy) the `.part` into `<name>.tmp.mp4` as a plain MP4 with the
   index in front (`+faststart`, so a browser starts playing at once), fsyncs it, renames it to
   `<name>.mp4`, fsyncs the directory and removes the `.part`. Recovery after a crash calls the same
   function on a truncated `.part` (it stops at the first unreadable fragment).

Clip time 0 is the decode time of the clip's first (key)frame: every packet and sample is placed at
`media_time - origin_s`, so audio and video share one clock whatever their sources.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import numpy as np

from detectors.types import AudioChunk
from storage.ring import RingPacket

log = logging.getLogger(__name__)
AAC_FRAME = 1024  # samples per AAC-LC frame
FRAG_OPTIONS = {"movflags": "frag_keyframe+empty_moov+default_base_moof"}
MAX_GAP_FILL_S = 60.0  # a microphone gap up to this long is filled with silence to keep sync


def part_path(final: Path) -> Path:
    return final.with_name(final.stem + ".part.mp4")


def tmp_path(final: Path) -> Path:
    return final.with_name(final.stem + ".tmp.mp4")


class _AacTrack:
    """Mono float samples on the media clock -> AAC frames at clip time, gaps filled, overlaps cut."""

    def __init__(self, out: Any, sample_rate: int, bitrate: int, origin_s: float, lead: int) -> None:
        self.stream = out.add_stream("aac", rate=sample_rate, layout="mono")
        self.stream.bit_rate = bitrate
        self.sr = sample_rate
        self.origin_s = origin_s
        self._out = out
        self._pending = np.zeros(0, np.float32)
        self._next = lead  # clip sample index of the first pending sample (see ClipWriter)
        self.samples_written = 0

    def feed(self, chunk: AudioChunk) -> None:
        if chunk.sample_rate != self.sr:
            raise ValueError(f"microphone chunk at {chunk.sample_rate} Hz, clip audio is {self.sr} Hz")
        x = np.asarray(chunk.samples, np.float32).reshape(-1)
        start = int(round((chunk.ts - self.origin_s) * self.sr))
        expected = self._next + len(self._pending)
        if start > expected:  # a gap: silence keeps later audio in sync
            gap = min(start - expected, int(MAX_GAP_FILL_S * self.sr))
            x = np.concatenate([np.zeros(gap, np.float32), x])
        elif start < expected:  # overlap or before clip start: drop what is already covered
            x = x[expected - start:]
        if len(x):
            self._pending = np.concatenate([self._pending, x])
            self._emit(final=False)

    def _emit(self, final: bool) -> None:
        n_full = len(self._pending) // AAC_FRAME * AAC_FRAME
        n = len(self._pending) if final else n_full
        for i in range(0, n, AAC_FRAME):
            block = self._pending[i:i + AAC_FRAME]
            frame = av.AudioFrame.from_ndarray(block[None, :], format="fltp", layout="mono")
            frame.sample_rate = self.sr
            frame.pts = self._next + i
            frame.time_base = Fraction(1, self.sr)
            self._out.mux(self.stream.encode(frame))
        self._next += n
        self.samples_written += n
        self._pending = self._pending[n:]

    def close(self) -> None:
        self._emit(final=True)
        self._out.mux(self.stream.encode(None))


class ClipWriter:
    """One clip's fragmented `.part` MP4.

    video_template: the av stream whose codec parameters the packets follow (the camera's input stream,
        or the encoder's stream for transcoded sources). origin_s: media time that becomes clip time 0.
    audio_template: an input AAC stream whose packets are copied, or None.
    mic_rate: sample rate of microphone chunks to encode to AAC, or None.
    """

    def __init__(self, path: Path, video_template: Any, origin_s: float, *, audio_template: Any = None,
                 mic_rate: int | None = None, audio_bitrate: int = 48_000) -> None:
        self.path = path
        self.origin_s = origin_s
        # The AAC encoder's first packet sits one frame (its priming) before its first sample, and a
        # fragmented MP4 starts each track at 0. So the video's first dts is 0 exactly and the audio
        # starts one AAC frame in (its first packet at 0): no stream is ever shifted alone by the muxer.
        self._out = av.open(str(path), "w", format="mp4", options=dict(FRAG_OPTIONS))
        try:
            self._v = self._out.add_stream_from_template(video_template)
            self._a = self._out.add_stream_from_template(audio_template) if audio_template else None
            self._mic = _AacTrack(self._out, mic_rate, audio_bitrate, origin_s, AAC_FRAME) if mic_rate else None
        except Exception:
            self._out.close()
            raise
        self.first_pts_s: float | None = None
        self.last_pts_s: float | None = None
        self.video_packets = 0
        self.bytes_in = 0

    def _copy(self, rp: RingPacket, stream: Any) -> None:
        # A fresh packet per clip: the ring's packet may be shared with other clips and the decoder.
        q = av.Packet(bytes(rp.packet))
        tb = rp.tb
        off = int(round(self.origin_s / tb))
        q.pts, q.dts = rp.ticks_pts - off, rp.ticks_dts - off
        q.time_base = tb
        q.is_keyframe = rp.is_key
        if rp.packet.duration:
            q.duration = rp.packet.duration
        q.stream = stream
        self._out.mux(q)
        self.bytes_in += rp.size

    def write_video(self, rp: RingPacket) -> None:
        self._copy(rp, self._v)
        self.video_packets += 1
        self.first_pts_s = rp.pts_s if self.first_pts_s is None else min(self.first_pts_s, rp.pts_s)
        self.last_pts_s = rp.pts_s if self.last_pts_s is None else max(self.last_pts_s, rp.pts_s)

    def write_audio_packet(self, rp: RingPacket) -> None:
        if self._a is not None and rp.dts_s >= self.origin_s:
            self._copy(rp, self._a)

    def write_samples(self, chunk: AudioChunk) -> None:
        if self._mic is not None:
            self._mic.feed(chunk)

    def close(self) -> None:
        """Flush the AAC encoder and the fragments, then fsync the `.part`."""
        try:
            if self._mic is not None:
                self._mic.close()
        finally:
            self._out.close()
        _fsync(self.path)

    def abort(self) -> None:
        with contextlib.suppress(OSError, av.error.FFmpegError):  # the file is thrown away anyway
            self._out.close()
        self.path.unlink(missing_ok=True)


@dataclass(frozen=True)
class FinalClip:
    path: Path
    size_bytes: int
    sha256: str
    video_packets: int
    first_pts_s: float | None  # clip time of the first and last video frame
    last_pts_s: float | None
    truncated: bool  # the .part ended in a damaged fragment (a crash) and was cut there


def finalize_part(part: Path, final: Path) -> FinalClip:
    """Remux a (possibly truncated) fragmented `.part` into the final MP4 atomically.

    Raises ValueError when the part holds no readable video packet (nothing to keep).
    """
    tmp = tmp_path(final)
    whole = complete_prefix(part)
    if whole < part.stat().st_size:  # a crash cut the last fragment: drop it, it cannot be trusted
        log.warning("%s: last fragment incomplete; cutting %d bytes", part.name, part.stat().st_size - whole)
        os.truncate(part, whole)
    inp = av.open(str(part))
    truncated, n_video, first, last = False, 0, None, None
    try:
        out = av.open(str(tmp), "w", format="mp4", options={"movflags": "+faststart"})
        try:
            streams = {s.index: out.add_stream_from_template(s) for s in inp.streams
                       if s.type in ("video", "audio")}
            try:
                for pkt in inp.demux(*[inp.streams[i] for i in streams]):
                    if pkt.dts is None or pkt.size == 0:
                        continue
                    is_video = pkt.stream.type == "video"
                    if is_video:
                        t = float(pkt.pts * pkt.time_base) if pkt.pts is not None else None
                        if t is not None:
                            first = t if first is None else min(first, t)
                            last = t if last is None else max(last, t)
                        n_video += 1
                    pkt.stream = streams[pkt.stream.index]
                    out.mux(pkt)
            except av.error.FFmpegError as e:  # a fragment cut by a crash: keep what came before it
                truncated = True
                log.warning("%s: damaged after %d video packets (%s); keeping those", part.name, n_video, e)
        finally:
            if n_video:
                out.close()
            else:
                _safe_close(out)
    finally:
        inp.close()
    if n_video == 0:
        tmp.unlink(missing_ok=True)
        raise ValueError(f"{part.name}: no readable video packet")
    _fsync(tmp)
    os.replace(tmp, final)
    _fsync(final.parent)
    part.unlink(missing_ok=True)
    size, digest = file_sha256(final)
    return FinalClip(final, size, digest, n_video, first, last, truncated)


def complete_prefix(path: Path) -> int:
    """Bytes of `path` up to the end of its last complete top-level box, where a `moof` only counts
    together with the complete `mdat` after it. A fragmented MP4 is a chain of [size:4][type:4] boxes."""
    end, good = 0, 0
    with open(path, "rb") as f:
        total = os.fstat(f.fileno()).st_size
        while end + 8 <= total:
            f.seek(end)
            head = f.read(16)
            size, kind = int.from_bytes(head[:4], "big"), head[4:8]
            if size == 1 and len(head) >= 16:
                size = int.from_bytes(head[8:16], "big")
            if size < 8 or end + size > total:
                break
            end += size
            if kind != b"moof":
                good = end
    return good


def file_sha256(path: Path) -> tuple[int, str]:
    h, size = hashlib.sha256(), 0
    with open(path, "rb") as f:
        while block := f.read(1 << 20):
            h.update(block)
            size += len(block)
    return size, h.hexdigest()


def write_atomic(path: Path, data: bytes) -> None:
    """Write bytes to `path` through a temp name, fsynced before the rename (used for snapshots)."""
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    _fsync(path.parent)


def _safe_close(container: Any) -> None:
    with contextlib.suppress(OSError, av.error.FFmpegError):  # an output without packets; removed next
        container.close()


def _fsync(path: Path) -> None:
    """Flush a file's data, or a directory's entries (a rename in it), to disk."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
