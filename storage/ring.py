"""Pre-roll rings: the last seconds of a camera's encoded packets, and of a microphone's samples.

The video ring is a deque of GOPs (each starts at a keyframe), so trimming drops whole GOPs and what is
left always starts at a keyframe: a clip cut from it decodes from its first packet. It holds at least
`horizon_s` seconds before the newest packet (plus up to one GOP), and never more than `max_bytes`
(beyond that the oldest GOP goes, even if that shortens the pre-roll; counted in `dropped_gops`).
Packets are kept by reference (av.Packet buffers are refcounted): no copy, no decode.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import Any

import numpy as np

from detectors.types import AudioChunk


@dataclass(frozen=True)
class RingPacket:
    """One encoded packet with its times in seconds on the media clock.

    pts_s/dts_s: presentation/decode time; ticks_pts/ticks_dts: the same as integers in time base `tb`
    (kept apart because the packet object itself is rebased by muxing and may be shared).
    """

    packet: Any  # av.Packet
    tb: Any  # fractions.Fraction, time base of ticks_pts/ticks_dts
    pts_s: float
    dts_s: float
    ticks_pts: int
    ticks_dts: int
    is_key: bool
    size: int


class PacketRing:
    """Last `horizon_s` seconds of one stream's packets, starting at a keyframe."""

    def __init__(self, horizon_s: float, max_bytes: int, *, keyframes: bool = True) -> None:
        if horizon_s < 0 or max_bytes <= 0:
            raise ValueError(f"ring: expected horizon_s >= 0 and max_bytes > 0, got {horizon_s}, {max_bytes}")
        self.horizon_s = horizon_s
        self.max_bytes = max_bytes
        self.keyframes = keyframes  # False for audio: every packet starts its own "GOP"
        self._gops: deque[list[RingPacket]] = deque()
        self._bytes = 0
        self.newest_s = float("-inf")
        self.dropped_gops = 0  # dropped for the byte cap, not for age
        self.skipped_before_key = 0  # packets seen before the first keyframe (undecodable alone)

    def __len__(self) -> int:
        return sum(len(g) for g in self._gops)

    @property
    def nbytes(self) -> int:
        return self._bytes

    def push(self, item: RingPacket) -> None:
        if item.is_key or not self.keyframes:
            self._gops.append([item])
        elif self._gops:
            self._gops[-1].append(item)
        else:
            self.skipped_before_key += 1
            return
        self._bytes += item.size
        self.newest_s = max(self.newest_s, item.pts_s)
        self._trim()

    def _trim(self) -> None:
        edge = self.newest_s - self.horizon_s
        while len(self._gops) >= 2 and self._gops[1][0].pts_s <= edge:
            self._drop_first()
        while self._bytes > self.max_bytes and len(self._gops) >= 2:
            self._drop_first()
            self.dropped_gops += 1

    def _drop_first(self) -> None:
        gop = self._gops.popleft()
        self._bytes -= sum(p.size for p in gop)

    def since(self, t_s: float) -> list[RingPacket]:
        """Packets in decode order from the last keyframe at or before `t_s` (or the oldest one held when
        the ring does not reach back that far) to the newest."""
        gops = list(self._gops)
        if not gops:
            return []
        first = 0
        for i, g in enumerate(gops):
            if g[0].pts_s <= t_s:
                first = i
            else:
                break
        if not self.keyframes:  # audio: whole packets from t_s on
            return [g[0] for g in gops if g[0].pts_s + 1e-9 >= t_s]
        return [p for g in gops[first:] for p in g]


class SampleRing:
    """Last `horizon_s` seconds of a microphone's AudioChunks (mono float32), by reference."""

    def __init__(self, horizon_s: float) -> None:
        self.horizon_s = horizon_s
        self._chunks: deque[AudioChunk] = deque()

    def push(self, chunk: AudioChunk) -> None:
        self._chunks.append(chunk)
        edge = chunk.ts + chunk.duration_s - self.horizon_s
        while len(self._chunks) > 1 and self._chunks[0].ts + self._chunks[0].duration_s < edge:
            self._chunks.popleft()

    def since(self, t_s: float) -> list[AudioChunk]:
        """Chunks that end after `t_s`, the first one cut to start at `t_s` when it straddles it."""
        out: list[AudioChunk] = []
        for c in self._chunks:
            end = c.ts + c.duration_s
            if end <= t_s:
                continue
            if c.ts < t_s:
                k = int(round((t_s - c.ts) * c.sample_rate))
                c = AudioChunk(c.ts + k / c.sample_rate, np.asarray(c.samples[k:]), c.sample_rate)
            out.append(c)
        return out


def stream_start_s(stream: Any) -> float:
    """Seconds of the stream's first timestamp (its media clock's zero for files)."""
    return float(stream.start_time * stream.time_base) if stream.start_time is not None else 0.0


def packet_time_s(packet: Any, origin_s: float) -> float:
    """Presentation (else decode) time of a packet in seconds, minus `origin_s`."""
    t = packet.pts if packet.pts is not None else packet.dts
    return float(t * packet.time_base) - origin_s


def ring_packet(packet: Any, origin_s: float, ts_s: float | None) -> RingPacket:
    """Wrap a demuxed packet with its times on the media clock (seconds and media-clock ticks)."""
    tb = packet.time_base
    pts = packet.pts if packet.pts is not None else packet.dts
    dts = packet.dts if packet.dts is not None else pts
    shift = -origin_s if ts_s is None else ts_s - float(pts * tb)  # media time = stream time + shift
    shift_ticks = int(round(shift / tb))
    return RingPacket(packet, tb, float((pts + shift_ticks) * tb), float((dts + shift_ticks) * tb),
                      int(pts + shift_ticks), int(dts + shift_ticks), bool(packet.is_keyframe), packet.size)
