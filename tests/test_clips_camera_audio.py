"""A camera that sends its own AAC audio with the H.264 video: both tracks are copied into the clip byte
for byte (no decode, no encode). The camera file is made from the real footage and a real recording."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from detectors.types import Event
from edge.clip_recorder import load_audio_file
from storage.config import ClipsConfig
from storage.index import ClipIndex
from storage.recorder import ClipRecorder
from tests.assets import asset_or_skip

pytestmark = pytest.mark.assets


def _camera_file(tmp: Path) -> Path:
    """The footage's first 40 s of H.264 packets (copied) plus AAC audio encoded from a speech file."""
    video, audio = asset_or_skip("footage/one-by-one-person-detection.mp4"), asset_or_skip("audio/two-speakers.wav")
    x = load_audio_file(audio, 16000)
    out_path = tmp / "camera.mp4"
    with av.open(str(video)) as src, av.open(str(out_path), "w") as out:
        vs = src.streams.video[0]
        ov = out.add_stream_from_template(vs)
        oa = out.add_stream("aac", rate=16000, layout="mono")
        for p in src.demux(vs):
            if p.size == 0 or p.pts * p.time_base > 40:
                continue
            p.stream = ov
            out.mux(p)
        for i in range(0, 16000 * 40, 1024):
            block = np.resize(x, i + 1024)[i:i + 1024] if i + 1024 > len(x) else x[i:i + 1024]
            f = av.AudioFrame.from_ndarray(block[None, :].astype(np.float32), format="fltp", layout="mono")
            f.sample_rate, f.pts, f.time_base = 16000, i, Fraction(1, 16000)
            out.mux(oa.encode(f))
        out.mux(oa.encode(None))
    return out_path


def test_camera_aac_is_copied_with_the_video(tmp_path: Path) -> None:
    cam = _camera_file(tmp_path)
    cfg = ClipsConfig(dir=str(tmp_path / "clips"), pre_s=5, post_s=5)
    index = ClipIndex(cfg.dir)
    audio_in: list[tuple[float, bytes]] = []
    with av.open(str(cam)) as c:
        vs, aus = c.streams.video[0], c.streams.audio[0]
        rec = ClipRecorder("cam1", cfg, index, vs, audio_stream=aus, background=False)
        done = []
        for pkt in c.demux(vs, aus):
            if pkt.size == 0:
                continue
            t = float(pkt.pts * pkt.time_base)
            if pkt.stream.type == "audio":
                audio_in.append((t, bytes(pkt)))
            done += rec.push_packet(pkt)
            if pkt.stream.type == "video" and abs(t - 15.0) < 1e-6:
                done += rec.on_event(Event("e1", "dispute", "start", "s", "n", "cam1", "W1", t, t))
            if pkt.stream.type == "video" and abs(t - 20.0) < 1e-6:
                done += rec.on_event(Event("e1", "dispute", "end", "s", "n", "cam1", "W1", t, 15.0))
        done += rec.close()
    assert len(done) == 1 and done[0].record.status == "complete"
    with av.open(str(index.abspath(done[0].record.path))) as c:
        assert [s.codec_context.name for s in c.streams] == ["h264", "aac"]
        clip_audio = [bytes(p) for p in c.demux(audio=0) if p.size]
    originals = [b for _, b in audio_in]
    first = originals.index(clip_audio[0])
    assert originals[first:first + len(clip_audio)] == clip_audio  # the camera's AAC, untouched
    # clip time 0 is the first keyframe's decode time (0.1 s before its pts in this footage); audio is
    # copied from the first packet at or after it
    assert done[0].record.start_s - 0.1 - 1e-6 <= audio_in[first][0] < done[0].record.start_s - 0.1 + 0.064
    assert len(clip_audio) * 1024 / 16000 > 14.0  # covers pre 5 + 5 + post 5 s
