"""Table tests of the audio features, the per-microphone baseline and hall-wide rejection (synthetic arrays),
plus the real Silero VAD on real speech."""

from __future__ import annotations

import math

import numpy as np
import pytest

from detectors.audio_baseline import MicBaseline
from detectors.audio_config import AudioBaselineConfig, HallWideConfig
from detectors.audio_features import (
    BLOCK,
    BLOCK_S,
    FRAMES_PER_BLOCK,
    SAMPLE_RATE,
    AudioFeatures,
    extract,
    warm_up,
)
from detectors.hall_noise import HallNoise, mean_correlation
from tests.assets import asset_or_skip

RNG = np.random.default_rng(7)
SPEECH = np.ones(FRAMES_PER_BLOCK, np.float32)


@pytest.fixture(scope="module", autouse=True)
def _warm() -> None:
    warm_up()  # librosa/numba compile once, outside the measured tests


def voice(f0: float, db: float) -> np.ndarray:
    """A harmonic-rich periodic signal (a sung vowel) at RMS `db` dBFS."""
    t = np.arange(BLOCK) / SAMPLE_RATE
    y = sum(np.sin(2 * np.pi * f0 * k * t) / k for k in range(1, 8))
    return (y / np.sqrt(np.mean(y ** 2)) * 10 ** (db / 20)).astype(np.float32)


@pytest.mark.parametrize("f0", [110.0, 180.0, 260.0])
@pytest.mark.parametrize("db", [-40.0, -20.0])
def test_features_of_a_voice(f0: float, db: float) -> None:
    f = extract(0.0, voice(f0, db), SPEECH)
    assert f.speech_db == pytest.approx(db, abs=0.5)
    assert f.rms_db == pytest.approx(db, abs=0.5)
    assert f.f0_hz == pytest.approx(f0, rel=0.03)
    assert f.flatness < 0.1
    assert f.frame_db.shape == (FRAMES_PER_BLOCK,)


@pytest.mark.parametrize("case", ["noise", "silence", "no_speech"])
def test_features_without_a_voice(case: str) -> None:
    if case == "noise":
        f = extract(1.0, (RNG.standard_normal(BLOCK) * 0.1).astype(np.float32), SPEECH)
        assert f.flatness > 0.3 and math.isnan(f.f0_hz)  # white noise: flat, no period
    elif case == "silence":
        f = extract(1.0, np.zeros(BLOCK, np.float32), SPEECH)
        assert f.rms_db <= -100 and math.isnan(f.f0_hz)
    else:
        f = extract(1.0, voice(150, -30), np.zeros(FRAMES_PER_BLOCK, np.float32))
        assert not f.has_speech and math.isnan(f.speech_db) and math.isnan(f.f0_hz)


def test_features_reject_bad_shapes() -> None:
    with pytest.raises(ValueError, match="8192 samples"):
        extract(0.0, np.zeros(100, np.float32), SPEECH)


def feat(speech_db: float, f0: float = 150.0, prob: float = 0.9, ts: float = 0.0) -> AudioFeatures:
    has = not math.isnan(speech_db)
    return AudioFeatures(ts, BLOCK_S, speech_db if has else -70.0, prob, speech_db, f0, 1000.0, 0.01)


BASE = AudioBaselineConfig(window_s=60, min_speech_s=5)


@pytest.mark.parametrize("seed,levels,frozen,want", [
    (None, [], False, None),                                    # nothing heard, no seed: unknown
    (-30.0, [], False, -30.0),                                  # the technician's seed
    (-30.0, [-40.0] * 5, False, -30.0),                         # too little speech yet: still the seed
    (-30.0, [-40.0] * 20, False, -40.0),                        # enough speech: learnt
    (None, [-40.0] * 20 + [-10.0] * 5, False, -40.0),           # a short loud burst does not move the median
    (None, [-40.0] * 20 + [-10.0] * 30, True, -40.0),           # frozen during an alert: nothing learnt
    (None, [-40.0] * 200, False, -40.0),                        # the ring wraps (60 s window)
    (None, [-40.0] * 120 + [-30.0] * 120, False, -30.0),        # slow drift over minutes is followed
])
def test_baseline_level(seed: float | None, levels: list[float], frozen: bool, want: float | None) -> None:
    b = MicBaseline(BASE, speech_db=seed)
    for i, v in enumerate(levels):
        b.update(feat(v, ts=i * BLOCK_S), frozen=frozen and i >= 20)
    assert b.speech_db == (None if want is None else pytest.approx(want))


def test_baseline_rise_pitch_and_ambient() -> None:
    b = MicBaseline(BASE, pitch_hz=200.0)
    for _ in range(20):
        b.update(feat(-40.0, f0=160.0))
        b.update(feat(math.nan, f0=math.nan, prob=0.01))  # no speech: ambient at -70
    over, ratio = b.rise(feat(-25.0, f0=240.0))
    assert over == pytest.approx(15.0) and ratio == pytest.approx(1.5)
    assert b.ambient_db == pytest.approx(-70.0)
    assert b.rise(feat(-25.0, f0=math.nan))[1] is None
    unsure = MicBaseline(BASE)
    for _ in range(20):
        unsure.update(feat(-40.0, prob=0.3))  # below min_speech_prob: not learnt
    assert unsure.speech_db is None


HW = HallWideConfig(hold_s=1.0, envelope_s=1.0)
ENV_COMMON = RNG.normal(-30, 8, (4, FRAMES_PER_BLOCK))  # one sound heard everywhere


def envs(kinds: dict[str, str], step: int) -> dict[str, np.ndarray]:
    """'common' mics share one envelope (a PA), 'own' mics each have their own."""
    return {k: ENV_COMMON[step % 4] + RNG.normal(0, 1, FRAMES_PER_BLOCK) if v == "common"
            else RNG.normal(-30, 8, FRAMES_PER_BLOCK) for k, v in kinds.items()}


@pytest.mark.parametrize("name,rises,kinds,wide,raised", [
    ("calm hall", {"a": 1, "b": -2, "c": 0}, "own", False, {"a": 1, "b": -2, "c": 0}),
    ("one quarrel", {"a": 20, "b": 1, "c": 0}, "own", False, {"a": 20}),
    ("PA on all", {"a": 15, "b": 13, "c": 16}, "common", True, {"a": 0.5, "b": -2.5, "c": 2.0}),
    ("quarrel with cross-talk", {"a": 20, "b": 8, "c": 7}, "common", False, {"a": 20}),
    ("two unrelated loud windows", {"a": 18, "b": 15, "c": 0}, "own", False, {"a": 18, "b": 15}),
    ("whole hall loud, uncorrelated", {"a": 10, "b": 9, "c": 11}, "own", True, {"a": 0, "b": -1.5, "c": 1.5}),
    ("quarrel over a PA", {"a": 30, "b": 14, "c": 15}, "common", True, {"a": 15.5}),
    ("one mic with a baseline", {"a": 20, "b": None, "c": None}, "own", False, {"a": 20}),
])
def test_hall_wide_table(name: str, rises: dict, kinds: str, wide: bool, raised: dict) -> None:
    hall = HallNoise(HW)
    kind_of = {k: kinds for k in rises}
    if name == "quarrel over a PA":
        kind_of["a"] = "own"  # the quarrel dominates its own microphone's envelope
    for step in range(4):  # fill the envelope history, then judge the last step
        out = hall.update(rises, envs(kind_of, step), now=step * BLOCK_S)
    assert hall.active is wide, name
    for k, v in raised.items():
        assert out[k] == pytest.approx(v, abs=0.01), (name, k, out)


def test_hall_wide_holds_then_releases() -> None:
    hall = HallNoise(HW)
    pa = {"a": 15.0, "b": 14.0, "c": 15.0}
    quiet = {"a": 0.0, "b": 0.0, "c": 0.0}
    seq = [pa] * 4 + [quiet] * 4
    states = [(hall.update(r, envs(dict.fromkeys(r, "common"), i), now=i * BLOCK_S), hall.active)[1]
              for i, r in enumerate(seq)]
    assert states == [True] * 5 + [False] * 3  # hall-wide during the PA and 1 s (hold_s) after


def test_mean_correlation() -> None:
    x = RNG.standard_normal(64)
    assert mean_correlation(np.stack([x, 2 * x + 1])) == pytest.approx(1.0)
    assert mean_correlation(np.stack([x, -x])) == pytest.approx(-1.0)
    assert mean_correlation(x[None]) == 0.0


def test_vad_on_real_speech_and_noise() -> None:
    from edge.audio_sources import read_audio
    from models.vad import SileroVad, VadError

    path = asset_or_skip("audio/two-speakers.wav")
    try:
        vad = SileroVad()
    except VadError as exc:
        pytest.skip(str(exc))
    y = read_audio(str(path))
    whole = vad.probs(y)
    vad.reset()
    chunked = np.concatenate([vad.probs(y[i:i + 7000]) for i in range(0, len(y), 7000)])
    assert np.allclose(whole, chunked, atol=1e-4)  # the stream state carries across chunks
    frame_s = 512 / SAMPLE_RATE
    silence = whole[: int(6.0 / frame_s)]  # the recording starts with 6.7 s without speech
    talk = whole[int(9.0 / frame_s): int(28.0 / frame_s)]
    assert silence.mean() < 0.1 and talk.mean() > 0.7
    vad.reset()
    assert vad.probs((RNG.standard_normal(SAMPLE_RATE * 3) * 0.1).astype(np.float32)).mean() < 0.1
    with pytest.raises(VadError, match="does not exist"):
        SileroVad("/nonexistent/vad.onnx")


def _pieces(spec: list[tuple[float, int]]):
    return [(ts, np.full(n, i, np.float32)) for i, (ts, n) in enumerate(spec)]


@pytest.mark.parametrize("name,spec,want", [
    ("continuous", [(0.0, 1000), (1000 / 16000, 1000), (2000 / 16000, 1000)],
     [(0.0, 800), (0.05, 800), (0.1, 800), (0.15, 600)]),
    ("late start keeps its clock", [(10.0, 1600)], [(10.0, 800), (10.05, 800)]),
    ("a gap restarts the clock", [(0.0, 1000), (5.0, 1000)], [(0.0, 800), (0.05, 200), (5.0, 800), (5.05, 200)]),
    ("small jitter is absorbed", [(0.0, 800), (0.051, 800)], [(0.0, 800), (0.05, 800)]),
])
def test_rechunk_timestamps(name: str, spec: list, want: list) -> None:
    from edge.audio_sources import _rechunk

    got = [(round(c.ts, 6), len(c.samples)) for c in _rechunk(iter(_pieces(spec)), 800, np.float32(1))]
    assert got == want, name


def test_gain_is_applied_and_live_mic_errors_are_clear() -> None:
    from edge.audio_sources import AudioSourceError, _rechunk, open_audio

    (chunk,) = _rechunk(iter([(0.0, np.full(800, 0.1, np.float32))]), 800, np.float32(2.0))
    assert np.allclose(chunk.samples, 0.2) and chunk.samples.dtype == np.float32
    with pytest.raises(ValueError, match="chunk_s"):
        open_audio("x.wav", chunk_s=0)
    try:  # without sounddevice/PortAudio/a device, the error names the source and the fix
        next(open_audio("sounddevice:hallwatch-no-such-device"))
    except AudioSourceError as exc:
        assert "sounddevice" in str(exc)
    else:  # pragma: no cover - a machine with that device name
        pytest.skip("a device of that name exists here")
