"""Unit tables: microphone recording and measuring (the node's audio features), floor grid."""

from __future__ import annotations

import numpy as np
import pytest

from calibration import mic_baseline as mb
from calibration.floor_fit import FloorCalibrationError, check_floor
from detectors.config import FloorConfig
from tests.calib_fixtures import real_speech, write_wav

SR = 16000


def test_record_from_file(tmp_path):
    wav = write_wav(tmp_path / "m.wav")  # 2 s of quiet noise, then 2 s of a loud buzz
    quiet = mb.record(str(wav), seconds=1.0, start_s=0.5)
    loud = mb.record(str(wav), seconds=1.0, start_s=2.5)
    assert quiet.dtype == np.float32 and len(quiet) == len(loud) == SR
    assert np.abs(quiet).max() < 0.01 < 0.1 < np.abs(loud).max()
    gained = mb.record(str(wav), seconds=1.0, start_s=2.5, gain_db=-20)
    assert np.abs(gained).max() == pytest.approx(np.abs(loud).max() / 10, rel=1e-3)
    assert len(mb.record(str(wav), seconds=9.0, start_s=3.0)) == SR  # only what the file has
    with pytest.raises(mb.MicError, match="does not exist"):
        mb.record(str(tmp_path / "none.wav"), seconds=1)
    with pytest.raises(mb.MicError, match="no audio after"):
        mb.record(str(wav), seconds=1, start_s=10)


def test_measure_like_the_node(tmp_path):
    speech = real_speech(3.0, level_db=-30)
    wav = write_wav(tmp_path / "m.wav", speech=speech)
    amb = mb.measure(mb.record(str(wav), seconds=1.5), "ambient")
    talk = mb.measure(mb.record(str(wav), seconds=3.0, start_s=2.0), "speech")
    assert -70 < amb.level_db < -50 and amb.pitch_hz is None
    assert talk.level_db > amb.level_db + 20 and 70 < talk.pitch_hz < 300 and talk.speech_s >= 1.0
    assert len(talk.levels_db) == 5 * 16  # 5 whole 0.512 s blocks of 16 frames in 3 s
    with pytest.raises(mb.MicError, match="no speech"):
        mb.measure(mb.record(str(wav), seconds=1.5), "speech")
    with pytest.raises(mb.MicError, match="shorter than one"):
        mb.measure(np.zeros(1000, np.float32), "ambient")
    with pytest.raises(ValueError, match="kind"):
        mb.measure(np.zeros(SR, np.float32), "shout")


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
