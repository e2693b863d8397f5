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
from storage.clip_writer import file_sha256
from storage.config import ClipsConfig
from storage.index import ClipIndex, ClipRecord
from storage.recorder import ClipRecorder
from tests.assets import asset_or_skip
from tests.packets import timed_packets

pytestmark = pytest.mark.assets
VIDEO = "footage/one-by-one-person-detection.mp4"
AUDIO = "audio/two-speakers.wav"
SR = 16000
# (event id, window, start t, end t): two apart, one overlapping the first (shared packets)
INCIDENTS = [("e-a", "W1", 30.0, 45.0), ("e-b", "W2", 40.0, 52.0), ("e-c", "W1", 90.0, 100.5)]


def _asset(rel: str) -> Path:
    return asset_or_skip(rel)


def _event(eid: str, window: str, state: str, t: float, started: float) -> Event:
    return Event(eid, "empty_post", state, "site", "node", "cam1", window, t, started)


def _original(video: Path) -> list[tuple[bytes, float, float, bool]]:
    """The camera's packets: bytes, pts_s, dts_s, keyframe (decode order)."""
    with av.open(str(video)) as c:
        return [(bytes(p), float(p.pts * p.time_base), float(p.dts * p.time_base), bool(p.is_keyframe))
                for p in c.demux(video=0) if p.size]


def _scripted(video: Path, mic: FileMic, clip_dir: Path) -> tuple[list, ClipIndex, ClipsConfig, list]:
    """Events at fixed times (two overlapping on one camera), fed as the frame loop would."""
    cfg = ClipsConfig(dir=str(clip_dir))  # binding defaults: pre 10, post 10
    index = ClipIndex(cfg.dir)
    done = []
    with av.open(str(video)) as c:
        vs = c.streams.video[0]
        rec = ClipRecorder("cam1", cfg, index, vs, mic_rate=SR)
        schedule = sorted([(s, (e, w, "start", s, s)) for e, w, s, _ in INCIDENTS]
                          + [(t, (e, w, "end", t, s)) for e, w, s, t in INCIDENTS])
        for pkt, t in timed_packets(c, vs):
            for chunk in mic.until(t + 0.2):
                rec.push_audio(chunk)
            done += rec.push_packet(pkt)
            while schedule and schedule[0][0] <= t:  # the rules raise events from decoded frames
                _, (eid, win, state, when, started) = schedule.pop(0)
                done += rec.on_event(_event(eid, win, state, when, started))
        done += rec.close()
    return done, index, cfg, INCIDENTS


def _pipeline(video: Path, mic: FileMic, clip_dir: Path) -> tuple[list, ClipIndex, ClipsConfig, list]:
    """The real node pipeline (detector, tracker, empty-post rule) over the footage, via Replay."""
    from edge.cli_demo import demo_config
    from edge.clip_recorder import ReplayClips
    from edge.replay import Replay

    asset_or_skip("models/yolox_nano.onnx")
    cfg = demo_config(video.parent.parent).model_copy(update={"clips": ClipsConfig(dir=str(clip_dir))})
    replay = Replay(cfg)
    clips = ReplayClips(cfg, replay, mics={"cam1": mic})
    result = replay.run()
    updates = clips.finish()
    starts = {e.event_id: e for e in result.events if e.state == "start"}
    ends = {e.event_id: e for e in result.events if e.state == "end"}
    incidents = [(eid, ev.window, ev.t, ends[eid].t) for eid, ev in starts.items()]
    assert len(incidents) >= 3, "the demo footage has several empty spells"
    assert sorted(u.event_id for u in updates) == sorted(starts)  # one clip update per alert
    assert all(u.state == "update" and u.clip and u.clip.endswith(".mp4") for u in updates)
    for d in clips.done:  # the snapshot of the frame that raised the alert, zones and people drawn
        snap = clips.index.abspath(d.record.snapshot)
        assert snap.read_bytes()[:3] == b"\xff\xd8\xff"
    return clips.done, clips.index, cfg.clips, incidents


@pytest.fixture(scope="module", params=["scripted", pytest.param("pipeline", marks=pytest.mark.slow)])
def replay(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> dict:
    video, audio = _asset(VIDEO), _asset(AUDIO)
    mic = FileMic(load_audio_file(audio, SR), SR)  # loops, like a live microphone
    run = _scripted if request.param == "scripted" else _pipeline
    done, index, cfg, incidents = run(video, mic, tmp_path_factory.mktemp("clips"))
    return {"done": done, "orig": _original(video), "mic": mic, "index": index, "cfg": cfg,
            "incidents": incidents}


def _clip_packets(path: Path) -> tuple[list[bytes], list[float], str, str]:
    with av.open(str(path)) as c:
        v, a = c.streams.video[0], c.streams.audio[0]
        pk = [(bytes(p), float(p.pts * p.time_base)) for p in c.demux(v) if p.size]
        return [b for b, _ in pk], [t for _, t in pk], v.codec_context.name, a.codec_context.name


def test_every_incident_has_one_complete_clip(replay: dict) -> None:
    done = replay["done"]
    assert sorted(d.event.event_id for d in done) == sorted(e for e, *_ in replay["incidents"])
    for d in done:
        assert d.record.status == "complete", d.record
        path = replay["index"].abspath(d.record.path)
        assert (d.record.size_bytes, d.record.sha256) == file_sha256(path)
        assert not list(path.parent.glob("*.part.mp4")) and not list(path.parent.glob("*.tmp.mp4"))


def test_clips_are_h264_aac_copied_byte_for_byte(replay: dict) -> None:
    for eid, _, start, end in replay["incidents"]:
        rec = next(d.record for d in replay["done"] if d.event.event_id == eid)
        _check_clip(replay, rec, start, end)


def _check_clip(replay: dict, rec: ClipRecord, start: float, end: float) -> None:
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
    want_start = start - replay["cfg"].pre_s
    if want_start >= orig[0][1]:
        assert want_start - gop_s < clip_start <= want_start
    else:  # the alert came sooner than pre_s after the footage began: from its first frame
        assert first == 0
    frame_s = float(np.median(np.diff(sorted(o[1] for o in orig))))
    reorder_s = max(o[1] - o[2] for o in orig)  # how far B-frames move presentation past decode time
    clip_end = max(o[1] for o in orig[first:first + len(data)])
    want = min(end + replay["cfg"].post_s, max(o[1] for o in orig))  # the footage may end sooner
    assert want - frame_s - 1e-6 <= clip_end <= want + reorder_s + frame_s
    assert rec.start_s == pytest.approx(clip_start) and rec.end_s == pytest.approx(clip_end, abs=1e-3)


def test_clip_audio_is_aligned_with_video(replay: dict) -> None:
    for d in replay["done"]:
        _check_audio(replay, d.record)


def _check_audio(replay: dict, rec: ClipRecord) -> None:
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


def test_long_incident_continues_in_seamless_parts(tmp_path: Path) -> None:
    """max_s cuts a long incident at a keyframe into parts that together hold every packet exactly once."""
    video = _asset(VIDEO)
    cfg = ClipsConfig(dir=str(tmp_path), pre_s=2, post_s=2, max_s=12)
    index = ClipIndex(cfg.dir)
    done = []
    with av.open(str(video)) as c:
        vs = c.streams.video[0]
        rec = ClipRecorder("cam1", cfg, index, vs, background=False)
        for pkt, t in timed_packets(c, vs):
            done += rec.push_packet(pkt)
            if abs(t - 10.0) < 1e-6:
                done += rec.on_event(_event("e-long", "W1", "start", t, t))
            if abs(t - 40.0) < 1e-6:
                done += rec.on_event(_event("e-long", "W1", "end", t, 10.0))
            if t > 50:
                break
        done += rec.close()
    parts = sorted((d.record for d in done), key=lambda r: r.part)
    assert [r.part for r in parts] == [0, 1, 2] and all(r.status == "complete" for r in parts)
    assert all(r.duration_s <= cfg.max_s for r in parts)
    joined = [b for r in parts for b in _clip_packets_video(index.abspath(r.path))]
    orig = _original(video)
    first = _run_start(orig, joined)
    assert [o[0] for o in orig[first:first + len(joined)]] == joined  # no gap, no overlap


def _clip_packets_video(path: Path) -> list[bytes]:
    with av.open(str(path)) as c:
        return [bytes(p) for p in c.demux(video=0) if p.size]
