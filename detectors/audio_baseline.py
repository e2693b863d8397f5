"""Each microphone's normal: its usual speech level and pitch, learnt online with a rolling median.

A window's microphone hears its own counter's conversation; "raised" only makes sense against what that
microphone normally hears (distance, gain and room differ per window). The median over the last
`window_s` seconds of speech ignores the occasional loud minute, and learning pauses (`frozen=True`) while
an alert is active or building, or while the hall is loud as a whole, so a quarrel or an announcement never
becomes the new normal. A technician's calibration (`microphones[].baseline`) seeds it until
`min_speech_s` of speech has been heard.
"""

from __future__ import annotations

import math

import numpy as np

from detectors.audio_config import AudioBaselineConfig
from detectors.audio_features import BLOCK_S, AudioFeatures


class _Ring:
    """Fixed-size float ring; median over what it holds."""

    def __init__(self, size: int) -> None:
        self._buf = np.full(size, np.nan, np.float64)
        self._i = 0
        self.count = 0

    def push(self, v: float) -> None:
        self._buf[self._i] = v
        self._i = (self._i + 1) % len(self._buf)
        self.count += 1

    def median(self) -> float:
        vals = self._buf if self.count >= len(self._buf) else self._buf[: self.count]
        vals = vals[~np.isnan(vals)]
        return float(np.median(vals)) if len(vals) else math.nan


class MicBaseline:
    """Learnt speech level (dBFS), speech pitch (Hz) and ambient level (dBFS) of one microphone.

    `update(features, frozen)` once per block; `speech_db`, `pitch_hz`, `ambient_db` read the current
    baseline (None while unknown). Seeds are the technician's calibrated values, or None.
    """

    def __init__(self, cfg: AudioBaselineConfig, *, speech_db: float | None = None,
                 pitch_hz: float | None = None, ambient_db: float | None = None) -> None:
        size = max(1, int(round(cfg.window_s / BLOCK_S)))
        self.cfg = cfg
        self._min_blocks = int(math.ceil(cfg.min_speech_s / BLOCK_S))
        self._speech = _Ring(size)
        self._pitch = _Ring(size)
        self._ambient = _Ring(size)
        self._seed = (speech_db, pitch_hz, ambient_db)

    @property
    def learnt_speech_s(self) -> float:
        return self._speech.count * BLOCK_S

    def update(self, f: AudioFeatures, *, frozen: bool = False) -> None:
        if frozen:
            return
        if f.has_speech and f.speech_prob >= self.cfg.min_speech_prob:
            self._speech.push(f.speech_db)
            if not math.isnan(f.f0_hz):
                self._pitch.push(f.f0_hz)
        elif f.speech_prob < 0.1:  # clearly no speech: the room's own level
            self._ambient.push(f.rms_db)

    def _value(self, ring: _Ring, seed: float | None, min_count: int) -> float | None:
        if ring.count >= max(1, min_count):
            v = ring.median()
            if not math.isnan(v):
                return v
        return seed

    @property
    def speech_db(self) -> float | None:
        return self._value(self._speech, self._seed[0], self._min_blocks)

    @property
    def pitch_hz(self) -> float | None:
        return self._value(self._pitch, self._seed[1], self._min_blocks // 2)

    @property
    def ambient_db(self) -> float | None:
        return self._value(self._ambient, self._seed[2], self._min_blocks)

    def rise(self, f: AudioFeatures) -> tuple[float | None, float | None]:
        """(dB over the speech baseline, pitch / baseline pitch) for one block; None where unknown.

        The level compared is the speech level when the block has speech, else its whole RMS (so a loud
        non-speech block still shows as a rise for hall-wide detection)."""
        base = self.speech_db
        level = f.speech_db if f.has_speech else f.rms_db
        over = None if base is None else level - base
        pb = self.pitch_hz
        ratio = None if pb is None or math.isnan(f.f0_hz) else f.f0_hz / pb
        return over, ratio

    def to_dict(self) -> dict[str, float | None]:
        def r(v: float | None) -> float | None:
            return None if v is None else round(v, 2)
        return {"baseline_speech_db": r(self.speech_db), "baseline_pitch_hz": r(self.pitch_hz),
                "ambient_db": r(self.ambient_db), "learnt_speech_s": round(self.learnt_speech_s, 1)}
