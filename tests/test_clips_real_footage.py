"""Evidence clips from real footage: the H.264 sample video replayed with a real speech recording as the
microphone. Each clip must be H.264 + AAC, hold the camera's packets byte for byte (no re-encode), start
within one GOP before `start - pre_s`, end at `end + post_s`, and carry audio aligned to the video."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import pytest

from detectors.types import Event
from edge.clip_recorder import FileMic, load_audio_file
from storage.assets import find_asset
from storage.clip_writer import file_sha256
from storage.config import ClipsConfig
from storage.index import ClipIndex
from storage.recorder import ClipRecorder

pytestmark = pytest.mark.assets
VIDEO = "footage/one-by-one-person-detection.mp4"
AUDIO = "audio/two-speakers.wav"
SR = 16000
# (event id, window, start t, end t): two apart, one overlapping the first (shared packets)
INCIDENTS = [("e-a", "W1", 30.0, 45.0), ("e-b", "W2", 40.0, 52.0), ("e-c", "W1", 90.0, 100.5)]


def _asset(rel: str) -> Path:
    p = find_asset(rel)
    if p is None:
        pytest.skip(f"asset {rel} not found: set HALLWATCH_ASSETS or put shared/assets beside the repo")
    return p


def _event(eid: str, window: str, state: str, t: float, started: float) -> Event:
    return Event(eid, "empty_post", state, "site", "node", "cam1", window, t, started)


@pytest.fixture(scope="module")
def replay(tmp_path_factory: pytest.TempPathFactory) -> dict:
    video, audio = _asset(VIDEO), _asset(AUDIO)
    mic = FileMic(load_audio_file(audio, SR), SR)
    cfg = ClipsConfig(dir=str(tmp_path_factory.mktemp("clips")))  # binding defaults: pre 10, post 10
    index = ClipIndex(cfg.dir)
    orig: list[tuple[bytes, float, float, bool]] = []  # bytes, pts_s, dts_s, key
    done = []
    with av.open(str(video)) as c:
        vs = c.streams.video[0]
        rec = ClipRecorder("cam1", cfg, index, vs, mic_rate=SR)
        schedule = sorted([(s, (e, w, "start", s, s)) for e, w, s, _ in INCIDENTS]
                          + [(t, (e, w, "end", t, s)) for e, w, s, t in INCIDENTS])
        for pkt in c.demux(vs):
            if pkt.size == 0:
                continue
            t = float(pkt.pts * pkt.time_base)
            orig.append((bytes(pkt), t, float(pkt.dts * pkt.time_base), bool(pkt.is_keyframe)))
            for chunk in mic.until(t + 0.2):
                rec.push_audio(chunk)
            done += rec.push_packet(pkt)
            while schedule and schedule[0][0] <= t:  # the rules raise events from decoded frames
                _, (eid, win, state, when, started) = schedule.pop(0)
                done += rec.on_event(_event(eid, win, state, when, started))
        done += rec.close()
    return {"done": done, "orig": orig, "mic": mic, "index": index, "cfg": cfg}


def _clip_packets(path: Path) -> tuple[list[bytes], list[float], str, str]:
    with av.open(str(path)) as c:
        v, a = c.streams.video[0], c.streams.audio[0]
        pk = [(bytes(p), float(p.pts * p.time_base)) for p in c.demux(v) if p.size]
        return [b for b, _ in pk], [t for _, t in pk], v.codec_context.name, a.codec_context.name


def test_every_incident_has_one_complete_clip(replay: dict) -> None:
    done = replay["done"]
    assert sorted(d.event.event_id for d in done) == sorted(e for e, *_ in INCIDENTS)
    for d in done:
        assert d.record.status == "complete", d.record
        path = replay["index"].abspath(d.record.path)
        assert (d.record.size_bytes, d.record.sha256) == file_sha256(path)
        assert not list(path.parent.glob("*.part.mp4")) and not list(path.parent.glob("*.tmp.mp4"))


@pytest.mark.parametrize("eid,window,start,end", INCIDENTS)
def test_clip_is_h264_aac_copied_byte_for_byte(replay: dict, eid: str, window: str, start: float,
                                               end: float) -> None:
    rec = next(d.record for d in replay["done"] if d.event.event_id == eid)
    data, _, vcodec, acodec = _clip_packets(replay["index"].abspath(rec.path))
    assert (vcodec, acodec) == ("h264", "aac")
    orig = replay["orig"]
    first = _run_start(orig, data)
    # the clip is one unbroken run of the camera's own packets, identical bytes: nothing re-encoded
    assert [o[0] for o in orig[first:first + len(data)]] == data
    assert orig[first][3], "a clip must start at a keyframe"

    keys = [o[1] for o in orig if o[3]]
    gop_s = max(np.diff(keys))
    clip_start = orig[first][1]
    assert start - replay["cfg"].pre_s - gop_s < clip_start <= start - replay["cfg"].pre_s
    frame_s = float(np.median(np.diff(sorted(o[1] for o in orig))))
    reorder_s = max(o[1] - o[2] for o in orig)  # how far B-frames move presentation past decode time
    clip_end = max(o[1] for o in orig[first:first + len(data)])
    want = end + replay["cfg"].post_s
    assert want - frame_s - 1e-6 <= clip_end <= want + reorder_s + frame_s
    assert rec.start_s == pytest.approx(clip_start) and rec.end_s == pytest.approx(clip_end, abs=1e-3)


@pytest.mark.parametrize("eid", [e for e, *_ in INCIDENTS])
def test_clip_audio_is_aligned_with_video(replay: dict, eid: str) -> None:
    rec = next(d.record for d in replay["done"] if d.event.event_id == eid)
    path = replay["index"].abspath(rec.path)
    data, clip_pts, *_ = _clip_packets(path)
    first = _run_start(replay["orig"], data)
    run = replay["orig"][first:first + len(data)]
    offsets = [o[1] - t for o, t in zip(run, clip_pts, strict=True)]
    assert max(offsets) - min(offsets) < 1e-3  # one clock for the whole video track
    media_minus_clip = float(np.median(offsets))
    with av.open(str(path)) as c:
        frames = list(c.decode(audio=0))
    a0 = float(frames[0].pts * frames[0].time_base)
    y = np.concatenate([f.to_ndarray().reshape(-1) for f in frames])
    mic: FileMic = replay["mic"]
    lag = _best_lag_s(y, a0, media_minus_clip, mic, search_s=0.5)
    assert abs(lag) < 0.100, f"audio is {lag * 1000:.0f} ms off the video"


def _run_start(orig: list[tuple[bytes, float, float, bool]], data: list[bytes]) -> int:
    """Index of the original packet where the clip's packets begin (its first packet is a keyframe,
    whose bytes are unique, unlike the tiny P-frames of a still scene)."""
    starts = [i for i, o in enumerate(orig) if o[0] == data[0]]
    assert len(starts) == 1, f"clip's first packet found {len(starts)} times in the original"
    return starts[0]


def _best_lag_s(y: np.ndarray, a0: float, offset: float, mic: FileMic, search_s: float) -> float:
    """Where in the microphone recording 4 s of the clip's audio matches best, relative to where the
    video clock says it should be (seconds; + means the clip's audio plays late)."""
    seg = y[SR * 2:SR * 6]
    at_media = a0 + 2.0 + offset
    ref_all = np.tile(mic.samples, 3)
    base = mic.sample_at(at_media) + len(mic.samples)
    step = 8
    lags = np.arange(-int(search_s * SR), int(search_s * SR) + 1, step)
    scores = []
    for lag in lags:
        ref = ref_all[base + lag:base + lag + len(seg)]
        scores.append(float(np.dot(seg, ref) / (np.linalg.norm(seg) * np.linalg.norm(ref) + 1e-9)))
    best = int(np.argmax(scores))
    assert scores[best] > 0.5, f"the clip's audio does not match the microphone (corr {scores[best]:.2f})"
    return -float(lags[best]) / SR
