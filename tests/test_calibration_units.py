"""Unit tables: microphone levels and pitch, floor grid, audio reading from real files."""

from __future__ import annotations

import numpy as np
import pytest

from calibration import mic_baseline as mb
from calibration.floor_fit import FloorCalibrationError, check_floor
from detectors.config import FloorConfig
from tests.assets import asset_or_skip
from tests.calib_fixtures import write_wav

SR = mb.SAMPLE_RATE
T = np.arange(SR) / SR


@pytest.mark.parametrize(("amp", "expected_db"), [(1.0, -3.01), (0.1, -23.01), (0.01, -43.01)])
def test_sine_level(amp, expected_db):
    levels = mb.frame_levels_db(amp * np.sin(2 * np.pi * 440 * T))
    assert len(levels) == 20 and np.allclose(levels, expected_db, atol=0.05)


def test_silence_and_gain():
    assert np.all(mb.frame_levels_db(np.zeros(SR)) == mb.FLOOR_DB)
    assert np.allclose(mb.frame_levels_db(0.1 * np.sin(2 * np.pi * 440 * T), gain_db=6), -17.01, atol=0.05)


@pytest.mark.parametrize("f0", [90.0, 150.0, 220.0, 330.0])
def test_pitch_of_a_buzz(f0):
    buzz = 0.3 * np.sign(np.sin(2 * np.pi * f0 * T))  # rich in harmonics, like a voice
    pitch = mb.frame_pitch_hz(buzz)
    assert np.nanmedian(pitch) == pytest.approx(f0, rel=0.03)
    noise_pitch = mb.frame_pitch_hz(np.random.default_rng(1).standard_normal(SR))
    assert np.mean(np.isnan(noise_pitch)) > 0.8  # noise is mostly unvoiced


def test_speech_level_ignores_pauses():
    rng = np.random.default_rng(0)
    noise = 0.001 * rng.standard_normal(2 * SR)
    talk = noise.copy()
    talk[: SR // 2] += 0.1 * np.sin(2 * np.pi * 200 * np.arange(SR // 2) / SR)  # 0.5 s of voice, 1.5 s pause
    rec = mb.measure(talk, "speech", ambient_db=-60)
    assert rec.level_db == pytest.approx(-23.0, abs=0.3)  # the voiced frames only, not the average
    with pytest.raises(mb.MicError, match="above the ambient"):
        mb.measure(noise, "speech", ambient_db=-60)
    with pytest.raises(ValueError, match="kind"):
        mb.measure(noise, "shout")


def test_read_audio_from_files(tmp_path):
    wav = write_wav(tmp_path / "m.wav")
    a = mb.read_audio(str(wav), seconds=1.0, start_s=2.5)
    assert a.dtype == np.float32 and len(a) == SR and np.abs(a).max() > 0.1
    with pytest.raises(mb.MicError, match="cannot open"):
        mb.read_audio(str(tmp_path / "none.wav"), seconds=1)
    ogg = asset_or_skip("audio/198-209-0000.hq.ogg")  # a real recording, resampled to 16 kHz mono
    speech = mb.measure(mb.read_audio(str(ogg), seconds=3.0), "speech")
    assert -45 < speech.level_db < -10 and 70 < speech.pitch_hz < 300


@pytest.mark.parametrize(("metres", "step"), [
    ([[0, 6], [4, 6], [4, 0], [0, 0]], 0.5),
    ([[0, 60], [40, 60], [40, 0], [0, 0]], 5.0),
    ([[0, 2], [1, 2], [1, 0], [0, 0]], 0.5),
])
def test_grid_step_and_lines(metres, step):
    fit = check_floor(FloorConfig(image=[[0.2, 0.6], [0.8, 0.6], [0.95, 0.95], [0.05, 0.95]], metres=metres))
    assert fit.step_m == step and fit.residual_m < 1e-3
    lines = [np.asarray(line) for line in fit.grid_rel]
    assert len(lines) >= 4 and all(line.shape[1] == 2 and len(line) >= 2 for line in lines)


def test_bad_floor_raises():
    with pytest.raises(FloorCalibrationError, match="line"):
        check_floor(FloorConfig.model_construct(image=[[0.1, 0.7], [0.3, 0.7], [0.5, 0.7], [0.7, 0.7]],
                                                metres=[[0, 0], [1, 0], [1, 1], [0, 1]]))
