"""Microphone baselines: record N seconds of ambient sound and of normal service speech, measure them the
way the node does, and give the values for `microphones[].baseline: {ambient_db, speech_db, pitch_hz}`.

The node judges a dispute against each microphone's own normal (detectors/audio_baseline.py): a rolling
median of the per-block speech level and pitch, and of the level of blocks without speech. The calibrated
baseline seeds that median, so it must mean the same thing: the recording goes through the node's own
source reader (edge/audio_sources.py, with the microphone's gain), Silero VAD, the same per-block features
and a `MicBaseline` with the hall's `rules.dispute.baseline` settings (only its warm-up requirement is
dropped, since a calibration recording is short by design).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

from detectors.audio_baseline import MicBaseline
from detectors.audio_config import AudioBaselineConfig
from detectors.audio_features import BLOCK, BLOCK_S, FRAMES_PER_BLOCK, SAMPLE_RATE, AudioFeatures, extract
from edge.audio_sources import AudioSourceError, open_audio
from models.vad import SileroVad, VadError

log = logging.getLogger(__name__)


class MicError(RuntimeError):
    """A recording that cannot give a baseline; the message names the microphone and the reason."""


def record(source: str, *, seconds: float, start_s: float = 0.0, gain_db: float = 0.0) -> np.ndarray:
    """`seconds` of 16 kHz mono float32 audio from `source` with `gain_db` applied.

    A file is read from `start_s`; a live source records from now (taking `seconds` of real time).
    """
    if seconds <= 0:
        raise MicError(f"microphone {source!r}: recording time must be positive, got {seconds}")
    want = int(round(seconds * SAMPLE_RATE))
    parts: list[np.ndarray] = []
    have = 0
    try:
        chunks = open_audio(source, chunk_s=BLOCK_S, gain_db=gain_db)
        for chunk in chunks:
            skip = int(round((start_s - chunk.ts) * SAMPLE_RATE)) if chunk.ts < start_s else 0
            if skip >= len(chunk.samples):
                continue  # before start_s (files only: live chunks carry epoch time)
            parts.append(chunk.samples[max(0, skip):])
            have += len(parts[-1])
            if have >= want:
                break
    except AudioSourceError as exc:
        raise MicError(str(exc)) from None
    if have == 0:
        raise MicError(f"microphone {source!r}: no audio after {start_s:g} s")
    if have < want:
        log.warning("microphone %s gave %.1f s of the %.1f s asked for", source, have / SAMPLE_RATE, seconds)
    return np.concatenate(parts)[:want].astype(np.float32)


def block_features(samples: np.ndarray, vad: SileroVad | None = None) -> list[AudioFeatures]:
    """The node's features of each whole 0.512 s block of `samples` (a shorter tail is left out)."""
    try:
        vad = vad or SileroVad()
    except VadError as exc:
        raise MicError(str(exc)) from None
    feats = []
    for i in range(len(samples) // BLOCK):
        block = np.asarray(samples[i * BLOCK:(i + 1) * BLOCK], np.float32)
        probs = vad.probs(block)
        feats.append(extract(i * BLOCK_S, block, np.resize(probs, FRAMES_PER_BLOCK)))
    return feats


@dataclass(frozen=True)
class Recording:
    """One measured recording.

    Attributes:
        kind: "ambient" or "speech".
        levels_db: level of every 32 ms frame, dBFS (for the page's level plot).
        speech_s: seconds of blocks the baseline counted as speech.
        level_db: ambient: the ambient level; speech: the speech level, dBFS (as the node learns them).
        pitch_hz: speech only: the speaking pitch, Hz (None when no speech block was voiced).
    """

    kind: str
    levels_db: list[float]
    speech_s: float
    level_db: float
    pitch_hz: float | None


def measure(samples: np.ndarray, kind: str, cfg: AudioBaselineConfig | None = None) -> Recording:
    """Measure a recording as the node's baseline would learn it; raises MicError when it cannot."""
    if kind not in ("ambient", "speech"):
        raise ValueError(f"kind must be 'ambient' or 'speech', got {kind!r}")
    feats = block_features(samples)
    if not feats:
        raise MicError(f"the recording is shorter than one {BLOCK_S:.3f} s block")
    cfg = cfg or AudioBaselineConfig()
    base = MicBaseline(cfg.model_copy(update={"min_speech_s": 0.0,
                                              "window_s": max(cfg.window_s, len(feats) * BLOCK_S)}))
    for f in feats:
        base.update(f)
    levels = np.concatenate([f.frame_db for f in feats]).round(1).tolist()
    if kind == "ambient":
        if base.ambient_db is None:
            raise MicError("every part of the ambient recording has speech in it: record while nobody "
                           "speaks near the microphone")
        return Recording(kind, levels, base.learnt_speech_s, base.ambient_db, None)
    if base.speech_db is None:
        raise MicError("no speech heard in the recording: record while someone speaks at the window")
    return Recording(kind, levels, base.learnt_speech_s, base.speech_db, base.pitch_hz)
