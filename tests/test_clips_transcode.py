"""Sources that are not H.264 (a real GIF, and MJPEG made from it) are encoded once to H.264 in the
worker thread, and their clips come out as H.264 + AAC like any other."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import pytest

from detectors.types import Event
from edge.clip_recorder import FileMic, load_audio_file
from storage.config import ClipsConfig
from storage.index import ClipIndex
from storage.recorder import ClipRecorder
from tests.assets import asset_or_skip
from tests.packets import timed_packets

pytestmark = pytest.mark.assets
GIF = "footage/worker-zone-detection.gif"
AUDIO = "audio/198-209-0000.hq.ogg"


def _asset(rel: str) -> Path:
    return asset_or_skip(rel)


def _mjpeg_from(gif: Path, out: Path) -> Path:
    """The GIF's frames as an MJPEG .mkv: what many USB/IP cameras send."""
    with av.open(str(gif)) as src, av.open(str(out), "w") as dst:
        st = dst.add_stream("mjpeg", rate=15)
        st.pix_fmt, st.time_base = "yuvj420p", Fraction(1, 1000)
        vs = src.streams.video[0]
        st.width, st.height = vs.width, vs.height
        for f in src.decode(vs):
            g = f.reformat(format="yuvj420p")
            g.pts, g.time_base = round(float(f.pts * f.time_base) * 1000), Fraction(1, 1000)
            dst.mux(st.encode(g))
        dst.mux(st.encode(None))
    return out


@pytest.mark.parametrize("kind", ["gif", "mjpeg"])
def test_non_h264_source_is_encoded_once_into_h264_aac_clips(tmp_path: Path, kind: str) -> None:
    src = _asset(GIF) if kind == "gif" else _mjpeg_from(_asset(GIF), tmp_path / "cam.mkv")
    mic = FileMic(load_audio_file(_asset(AUDIO)), 16000)
    cfg = ClipsConfig(dir=str(tmp_path / "clips"), pre_s=1.0, post_s=0.5)
    index = ClipIndex(cfg.dir)
    done, n_packets = [], 0
    with av.open(str(src)) as c:
        vs = c.streams.video[0]
        rec = ClipRecorder("cam1", cfg, index, vs, mic_rate=16000, background=False, live=False)
        for pkt, t in timed_packets(c, vs):
            n_packets += 1
            for ch in mic.until(t + 0.2):
                rec.push_audio(ch)
            done += rec.push_packet(pkt)
            if n_packets == 30:  # two overlapping incidents share the encoded packets
                done += rec.on_event(Event("e1", "chatting", "start", "s", "n", "cam1", None, t, t))
                done += rec.on_event(Event("e2", "dispute", "start", "s", "n", "cam1", "W1", t, t))
            if n_packets == 45:
                done += rec.on_event(Event("e1", "chatting", "end", "s", "n", "cam1", None, t, t - 1))
        done += rec.close()
        transcoder = rec._transcoder
    assert transcoder is not None and transcoder.dropped == 0 and transcoder.errors == 0
    assert transcoder.frames_encoded == n_packets  # every source frame encoded exactly once
    assert sorted(d.event.event_id for d in done) == ["e1", "e2"]
    for d in done:
        assert d.record.status == "complete"
        with av.open(str(index.abspath(d.record.path))) as c:
            assert c.streams.video[0].codec_context.name == "h264"
            assert c.streams.audio[0].codec_context.name == "aac"
            frames = list(c.decode(video=0))
        assert len(frames) >= 10 and frames[0].key_frame
        assert d.record.end_s > d.record.start_s


def test_live_encoder_drops_newest_when_busy_and_counts() -> None:
    gif = _asset(GIF)
    from storage.encoder import Transcoder

    with av.open(str(gif)) as c:
        vs = c.streams.video[0]
        tr = Transcoder(vs, fps=15, queue_size=1)
        results = [tr.submit(p, float(p.pts * p.time_base)) for p in c.demux(vs) if p.size]
        tr.close()
    assert results.count(False) == tr.dropped > 0  # a burst faster than the encoder: drops, counted
    assert tr.frames_encoded + tr.errors <= results.count(True)
