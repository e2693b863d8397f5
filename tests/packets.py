"""Test helper: a video stream's packets with their presentation time, as the clip tests feed recorders.

    with av.open(path) as c:
        vs = c.streams.video[0]
        for pkt, t in timed_packets(c, vs):
            rec.push_packet(pkt)
"""

from __future__ import annotations

from collections.abc import Iterator

import av


def timed_packets(container: av.container.InputContainer, stream: av.video.stream.VideoStream
                  ) -> Iterator[tuple[av.Packet, float]]:
    """Every packet of `stream` in file order with its pts in seconds; the empty flush packet is left out."""
    for pkt in container.demux(stream):
        if pkt.size == 0:
            continue
        yield pkt, float(pkt.pts * pkt.time_base)
