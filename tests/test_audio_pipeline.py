"""End to end: generated hall audio (from the real speech assets) through real decoding (PyAV), the real
Silero VAD and the whole AudioPipeline, with counter counts given per window."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import pytest

from detectors.audio_features import warm_up
from detectors.types import AudioChunk, Event
from edge.audio_pipeline import AudioPipeline, camera_key
from edge.audio_sources import AudioSourceError, open_audio, read_audio
from edge.config import MicBaselineConfig, parse_config
from tests.assets import asset_or_skip
from tests.audiogen import DEFAULT_PLAN, MIC_WINDOW, VARIANT_PLAN, build_hall_set

pytestmark = [pytest.mark.assets, pytest.mark.slow]
POST = [[0.0, 0.0], [0.1, 0.0], [0.1, 0.1]]


PLANS = {"default": DEFAULT_PLAN, "variant": VARIANT_PLAN}


@pytest.fixture(scope="module")
def hallsets(tmp_path_factory: pytest.TempPathFactory):
    for name in ("two-speakers.wav", "198-209-0000.hq.ogg", "3436-172162-0000.hq.ogg", "5703-47212-0000.hq.ogg"):
        asset_or_skip(f"audio/{name}")
    pytest.importorskip("silero_vad", reason="pip install --no-deps silero-vad (scripts/install.sh)")
    warm_up()
    cache: dict[str, object] = {}

    def get(plan: str):
        if plan not in cache:
            cache[plan] = build_hall_set(tmp_path_factory.mktemp(plan), plan=PLANS[plan], seed=len(cache))
        return cache[plan]
    return get


@pytest.fixture(scope="module")
def hallset(hallsets):
    return hallsets("default")


def node_cfg(mics: dict[str, str], windows: dict[str, str], **dispute) -> object:
    return parse_config({
        "site": "s", "node": "n", "cameras": [{"id": "cam1", "source": "cam1.mp4"}],
        "microphones": [{"id": m, "source": src} for m, src in mics.items()],
        "windows": [{"id": w, "camera": "cam1", "post": POST, "microphone": m} for w, m in windows.items()],
        "rules": {"dispute": dispute},
    })


def replay(pipe: AudioPipeline, people: dict[str, int], fps: float = 5.0) -> list[Event]:
    """Feed every input's chunks in timestamp order and call update() at `fps`, as the replay does."""
    chunks = sorted(((c.ts, k, c) for k, src in pipe.inputs().items() for c in open_audio(src)),
                    key=lambda x: (x[0], x[1]))
    end = max(c.ts + c.duration_s for _, _, c in chunks)
    events: list[Event] = []
    i = 0
    for n in range(int(end * fps) + 2 * int(fps)):
        now = n / fps
        while i < len(chunks) and chunks[i][0] <= now:
            pipe.push(chunks[i][1], chunks[i][2])
            i += 1
        events += pipe.update(now, people)
    return events


@pytest.mark.parametrize("plan", list(PLANS))
def test_generated_set_every_quarrel_and_nothing_else(hallsets, plan: str) -> None:
    hallset = hallsets(plan)
    cfg = node_cfg({m: str(p) for m, p in hallset.mics.items()}, {w: m for m, w in MIC_WINDOW.items()})
    pipe = AudioPipeline(cfg)
    events = replay(pipe, {"W1": 2, "W2": 2, "W3": 2})
    starts = [e for e in events if e.state == "start"]
    quarrels = [e for e in PLANS[plan] if e["kind"] == "quarrel"]
    after_s = cfg.rules.dispute.after_s
    assert len(starts) == len(quarrels), [(e.window, e.t) for e in starts]
    for q, e in zip(quarrels, sorted(starts, key=lambda e: e.t), strict=True):
        assert e.window == MIC_WINDOW[q["mic"]]
        assert q["start"] + after_s <= e.t <= q["start"] + after_s + 2.0, (q, e.t)
        assert e.details["db_over_baseline"] >= 12 and e.details["speech_prob"] >= 0.5
        assert e.people == 2 and e.details["max_people"] == 2
    ends = {e.event_id for e in events if e.state == "end"}
    assert ends == {e.event_id for e in starts}  # every alert cleared after the calm came back
    levels = pipe.levels()
    assert set(levels) == {"mic1", "mic2", "mic3"}
    for lv in levels.values():
        assert lv["baseline_speech_db"] < -20 and lv["baseline_pitch_hz"] > 70
        assert lv["rtf"] > 0 and lv["gaps"] == 0 and lv["audio_s"] > 130


def test_no_dispute_without_people_at_the_counter(hallset) -> None:
    # one microphone is enough here (its quarrel alone would raise W1, as the test above shows)
    cfg = node_cfg({"mic1": str(hallset.mics["mic1"])}, {"W1": "mic1"})
    assert replay(AudioPipeline(cfg), {"W1": 1}) == []
    assert [e.state for e in replay(AudioPipeline(cfg), {"W1": 2})][:1] == ["start"]


def _mux_with_video(wav: Path, out: Path, seconds: float) -> None:
    """An MP4 with a small H.264 video track and the wav as its AAC audio track (a camera with a mic)."""
    y = read_audio(str(wav))[: int(seconds * 16000)]
    with av.open(str(out), "w") as c:
        vs = c.add_stream("libx264", rate=5)
        vs.width, vs.height, vs.pix_fmt = 64, 64, "yuv420p"
        aus = c.add_stream("aac", rate=16000, layout="mono")
        for i in range(int(seconds * 5)):
            img = np.full((64, 64, 3), i % 255, np.uint8)
            c.mux(vs.encode(av.VideoFrame.from_ndarray(img, format="rgb24")))
        for i in range(0, len(y), 1024):
            fr = av.AudioFrame.from_ndarray(y[None, i:i + 1024].astype(np.float32), format="fltp", layout="mono")
            fr.sample_rate = 16000
            fr.pts = i
            c.mux(aus.encode(fr))
        c.mux(vs.encode(None))
        c.mux(aus.encode(None))


def test_camera_audio_track_feeds_its_window(hallset, tmp_path: Path) -> None:
    video = tmp_path / "cam1.mp4"
    _mux_with_video(hallset.mics["mic1"], video, seconds=45.0)
    cfg = node_cfg({}, {"W1": "camera"})
    cfg.cameras[0].source = str(video)
    pipe = AudioPipeline(cfg)
    assert pipe.inputs() == {camera_key("cam1"): str(video)}
    events = replay(pipe, {"W1": 3})
    starts = [e for e in events if e.state == "start"]
    assert [e.window for e in starts] == ["W1"]
    assert 26.0 + 5.0 <= starts[0].t <= 26.0 + 7.0  # the first quarrel of the set starts at 26 s
    # chunk stamps are media seconds from the file start, continuous
    ts = [c.ts for c in open_audio(str(video), chunk_s=0.5)]
    assert ts[0] < 0.1 and np.allclose(np.diff(ts), 0.5, atol=1e-6)


def test_sources_fail_loudly(tmp_path: Path) -> None:
    with pytest.raises(AudioSourceError, match="does not exist"):
        open_audio(str(tmp_path / "missing.wav"))
    silent = tmp_path / "silent.mp4"
    with av.open(str(silent), "w") as c:
        vs = c.add_stream("libx264", rate=5)
        vs.width, vs.height, vs.pix_fmt = 64, 64, "yuv420p"
        for _ in range(5):
            c.mux(vs.encode(av.VideoFrame.from_ndarray(np.zeros((64, 64, 3), np.uint8), format="rgb24")))
        c.mux(vs.encode(None))
    with pytest.raises(AudioSourceError, match="no audio track"):
        list(open_audio(str(silent)))
    cfg = node_cfg({"mic1": "x.wav"}, {"W1": "mic1"})
    with pytest.raises(KeyError, match="not configured"):
        AudioPipeline(cfg).push("mic9", AudioChunk(0.0, np.zeros(10, np.float32)))


def test_audio_command_reports_baselines_cost_and_events(hallset, tmp_path: Path, capsys) -> None:
    import json

    import yaml

    from edge.cli_audio import main

    cfg = tmp_path / "node.yaml"
    cfg.write_text(yaml.safe_dump({
        "site": "s", "node": "n", "cameras": [{"id": "cam1", "source": "cam1.mp4"}],
        "microphones": [{"id": "mic1", "source": "placeholder.wav", "baseline": {"speech_db": -35.0}}],
        "windows": [{"id": "W1", "camera": "cam1", "post": POST, "microphone": "mic1"}]}))
    out = tmp_path / "events.jsonl"
    argv = [str(cfg), "--source", f"mic1={hallset.mics['mic1']}", "--people", "W1=2", "--json", "--out", str(out)]
    assert main(argv) == 0
    report = json.loads(capsys.readouterr().out)
    lv = report["levels"]["mic1"]
    assert lv["audio_s"] > 130 and 0 < lv["rtf"] < 1 and -40 < lv["baseline_speech_db"] < -25
    assert [e["window"] for e in report["events"] if e["state"] == "start"] == ["W1"]
    assert len(out.read_text().splitlines()) == len(report["events"])
    assert main([str(cfg), "--source", "mic9=x.wav"]) == 2


def test_calibrated_seed_lets_a_window_alert_before_it_has_learnt(hallsets, tmp_path: Path) -> None:
    hallsets("default")  # assets checked, librosa warm
    early = build_hall_set(tmp_path, plan=[{"kind": "quarrel", "mic": "mic1", "start": 2.0, "end": 12.0}],
                           duration_s=30.0)
    learnt = node_cfg({"mic1": str(early.mics["mic1"])}, {"W1": "mic1"})
    assert replay(AudioPipeline(learnt), {"W1": 2}) == []  # 2 s of calm speech: no baseline yet
    seeded = learnt.model_copy(deep=True)
    seeded.microphones[0].baseline = MicBaselineConfig(speech_db=-34.0)  # what `hallwatch audio` measured
    starts = [e for e in replay(AudioPipeline(seeded), {"W1": 2}) if e.state == "start"]
    assert [e.window for e in starts] == ["W1"] and 7.0 <= starts[0].t <= 9.0
