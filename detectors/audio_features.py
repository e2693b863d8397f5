"""Per-block audio features of one microphone: level, speech, pitch and a strain cue.

A block is `BLOCK` samples (0.512 s) of 16 kHz mono float32 audio, i.e. 16 VAD frames of 512 samples, so
the VAD's per-frame speech probabilities line up with the frames used here. The VAD itself runs outside
(`models/vad.py`); this module is pure numpy/librosa.

Costs measured on this machine (MEASUREMENTS.md): librosa `yin` 1.1 ms per second of audio against 45 ms
for `pyin`, so pitch uses `yin`, and voicing (which `yin` does not give) is decided by the normalised
autocorrelation at the found period, in one vectorised pass.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import librosa
import numpy as np

SAMPLE_RATE = 16000
FRAME = 512  # one VAD frame, 32 ms
FRAMES_PER_BLOCK = 16
BLOCK = FRAME * FRAMES_PER_BLOCK  # 8192 samples = 0.512 s
BLOCK_S = BLOCK / SAMPLE_RATE
FMIN_HZ, FMAX_HZ = 70.0, 500.0
PITCH_FRAME = 1024  # yin frame: two periods of the lowest pitch fit in it
SPEECH_FRAME_PROB = 0.5  # a VAD frame above this counts as speech
MIN_VOICING = 0.5  # normalised autocorrelation at the period above this: the frame is voiced
_EPS = 1e-10
_WIN = np.hanning(FRAME + 2)[1:-1].astype(np.float32)
_FREQS = np.fft.rfftfreq(FRAME, 1.0 / SAMPLE_RATE).astype(np.float32)


def dbfs(power: np.ndarray | float) -> np.ndarray | float:
    """Mean-square power (full scale = 1.0) to dBFS, floored at -120 dB."""
    return 10.0 * np.log10(np.maximum(power, 1e-12))


@dataclass(frozen=True)
class AudioFeatures:
    """What one block of one microphone says.

    Attributes:
        ts: seconds of the first sample (the media clock of its source).
        duration_s: block length, seconds.
        rms_db: RMS level of the whole block, dBFS.
        speech_prob: mean Silero speech probability over the block's frames, 0..1.
        speech_db: median frame level over the frames the VAD calls speech, dBFS; NaN when none.
        frame_db: float32 (16,), level of each 32 ms frame, dBFS (the envelope hall-wide rejection
            correlates across microphones).
        f0_hz: median fundamental frequency over voiced speech frames, Hz; NaN when none.
        centroid_hz: spectral centroid over speech frames (all frames when none), Hz.
        flatness: spectral flatness over the same frames, 0 (tonal) .. 1 (white noise).
    """

    ts: float
    duration_s: float
    rms_db: float
    speech_prob: float
    speech_db: float
    f0_hz: float
    centroid_hz: float
    flatness: float
    frame_db: np.ndarray = field(default_factory=lambda: np.zeros(0, np.float32), repr=False, compare=False)

    @property
    def has_speech(self) -> bool:
        return not math.isnan(self.speech_db)

    def to_dict(self) -> dict[str, float | None]:
        def r(v: float) -> float | None:
            return None if math.isnan(v) else round(float(v), 3)
        return {"ts": r(self.ts), "rms_db": r(self.rms_db), "speech_prob": r(self.speech_prob),
                "speech_db": r(self.speech_db), "f0_hz": r(self.f0_hz), "centroid_hz": r(self.centroid_hz),
                "flatness": r(self.flatness)}


def warm_up() -> None:
    """Run every librosa call once so numba compiles now, not on the first live block."""
    extract(0.0, np.random.default_rng(0).standard_normal(BLOCK).astype(np.float32) * 0.1,
            np.ones(FRAMES_PER_BLOCK, np.float32))


def _pitch(y: np.ndarray, speech: np.ndarray) -> float:
    """Median yin f0 (Hz) over voiced speech frames of one block; NaN when none is voiced."""
    f0 = librosa.yin(y, fmin=FMIN_HZ, fmax=FMAX_HZ, sr=SAMPLE_RATE, frame_length=PITCH_FRAME,
                     hop_length=FRAME, center=True)[:FRAMES_PER_BLOCK]
    padded = np.pad(y, PITCH_FRAME // 2)
    frames = librosa.util.frame(padded, frame_length=PITCH_FRAME, hop_length=FRAME)[:, :FRAMES_PER_BLOCK]
    lag = np.clip(np.round(SAMPLE_RATE / f0).astype(np.int64), 1, PITCH_FRAME // 2)
    half = PITCH_FRAME // 2
    idx = np.arange(half)
    a = frames[idx[:, None], np.arange(frames.shape[1])[None, :]]  # (half, F): first half of each frame
    b = frames[idx[:, None] + lag[None, :], np.arange(frames.shape[1])[None, :]]  # shifted by one period
    num = (a * b).sum(axis=0)
    den = np.sqrt((a * a).sum(axis=0) * (b * b).sum(axis=0)) + _EPS
    voiced = (num / den > MIN_VOICING) & speech
    return float(np.median(f0[voiced])) if voiced.any() else math.nan


def extract(ts: float, y: np.ndarray, frame_probs: np.ndarray) -> AudioFeatures:
    """Features of one block.

    Args:
        ts: seconds of the block's first sample.
        y: float32 (BLOCK,), mono 16 kHz, -1..1 (gain already applied).
        frame_probs: float32 (FRAMES_PER_BLOCK,), the VAD's speech probability per 512-sample frame.
    """
    y = np.asarray(y, np.float32)
    if y.shape != (BLOCK,) or frame_probs.shape != (FRAMES_PER_BLOCK,):
        raise ValueError(f"expected {BLOCK} samples and {FRAMES_PER_BLOCK} probabilities, "
                         f"got {y.shape} and {frame_probs.shape}")
    frames = y.reshape(FRAMES_PER_BLOCK, FRAME)
    power = (frames * frames).mean(axis=1)  # (F,) mean square per frame
    speech = frame_probs > SPEECH_FRAME_PROB
    # the median over speech frames, not the mean: an impact under speech moves it little
    speech_db = float(dbfs(np.median(power[speech]))) if speech.any() else math.nan
    spec = np.abs(np.fft.rfft(frames * _WIN, axis=1)).T  # (bins, F) magnitude, librosa's layout
    sel = speech if speech.any() else np.ones_like(speech)
    centroid = librosa.feature.spectral_centroid(S=spec[:, sel], sr=SAMPLE_RATE, n_fft=FRAME, freq=_FREQS)
    flat = librosa.feature.spectral_flatness(S=spec[:, sel])
    loud = power[sel].max() > 1e-8  # digital silence has no pitch or meaningful spectrum
    return AudioFeatures(
        ts=float(ts), duration_s=BLOCK_S, rms_db=float(dbfs(power.mean())),
        speech_prob=float(frame_probs.mean()), speech_db=speech_db,
        f0_hz=_pitch(y, speech) if speech.any() and loud else math.nan,
        centroid_hz=float(centroid.mean()) if loud else 0.0,
        flatness=float(flat.mean()) if loud else 1.0,
        frame_db=dbfs(power).astype(np.float32),
    )
