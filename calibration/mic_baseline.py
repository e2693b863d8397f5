"""Microphone baselines: record N seconds of ambient sound and of normal service speech, store the levels.

A dispute is "loudness well above this microphone's own baseline", so each microphone gets
`baseline: {ambient_db, speech_db, pitch_hz}` in the config (MicBaselineConfig). Levels are RMS in dBFS
over 50 ms frames of 16 kHz mono audio; the speech level is the power mean over frames clearly above the
ambient level (the active-speech level, so pauses between words do not pull it down); the pitch is the
median autocorrelation pitch of those frames.

Sources: anything PyAV opens (audio files, the audio of a video file, rtsp/http streams, `alsa:hw:0`),
and `sounddevice:NAME` through the optional `sounddevice` package. Reading a live source takes the
recording time in real time; a file is read from `start_s`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import av
import numpy as np

log = logging.getLogger(__name__)

SAMPLE_RATE = 16000
FRAME_S = 0.05
FLOOR_DB = -120.0  # level of digital silence, so log10(0) never appears
SPEECH_OVER_AMBIENT_DB = 6.0  # a frame this far above the ambient level counts as speech


class MicError(RuntimeError):
    """A microphone source that gave no usable audio; names the source and the reason."""


def _read_sounddevice(device: str, seconds: float) -> np.ndarray:
    try:
        import sounddevice  # optional: only for live capture from a local sound card
    except ImportError:
        raise MicError(f"microphone {device!r}: the 'sounddevice' package is not installed "
                       "(pip install sounddevice), or use an alsa: source") from None
    rec = sounddevice.rec(int(seconds * SAMPLE_RATE), samplerate=SAMPLE_RATE, channels=1, dtype="float32",
                          device=device or None, blocking=True)
    return np.asarray(rec, np.float32).reshape(-1)


def read_audio(source: str, *, seconds: float, start_s: float = 0.0, timeout_s: float = 10.0) -> np.ndarray:
    """`seconds` of mono float32 audio (-1..1) at 16 kHz from `source`, starting at `start_s` (files)."""
    if seconds <= 0:
        raise MicError(f"microphone {source!r}: recording time must be positive, got {seconds}")
    if source.startswith("sounddevice:"):
        return _read_sounddevice(source.removeprefix("sounddevice:"), seconds)
    fmt, url = ("alsa", source.removeprefix("alsa:")) if source.startswith("alsa:") else (None, source)
    try:
        container = av.open(url, format=fmt, timeout=timeout_s)
    except (av.error.FFmpegError, OSError) as exc:
        raise MicError(f"microphone {source!r}: cannot open ({exc})") from None
    with container:
        if not container.streams.audio:
            raise MicError(f"microphone {source!r}: no audio stream")
        stream = container.streams.audio[0]
        if start_s > 0:
            container.seek(int(start_s * av.time_base), backward=True)
        resampler = av.AudioResampler(format="flt", layout="mono", rate=SAMPLE_RATE)
        want = int(seconds * SAMPLE_RATE)
        parts, have, skip = [], 0, None
        for frame in container.decode(stream):
            if skip is None:  # after a seek we land before start_s: drop the samples before it
                skip = max(0, int(round(((start_s - (frame.time or 0.0)) if start_s > 0 else 0) * SAMPLE_RATE)))
            for out in resampler.resample(frame):
                pcm = out.to_ndarray().reshape(-1)
                drop = min(skip, len(pcm))
                skip -= drop
                parts.append(pcm[drop:])
                have += len(pcm) - drop
            if have >= want:
                break
    if have == 0:
        raise MicError(f"microphone {source!r}: no audio after {start_s:.1f} s")
    audio = np.concatenate(parts)[:want].astype(np.float32)
    if len(audio) < want:
        log.warning("microphone %s gave %.1f s of the %.1f s asked for", source, len(audio) / SAMPLE_RATE,
                    seconds)
    return audio


def _frames(samples: np.ndarray, frame_s: float = FRAME_S) -> np.ndarray:
    n = int(frame_s * SAMPLE_RATE)
    usable = len(samples) // n * n
    return samples[:usable].reshape(-1, n)


def frame_levels_db(samples: np.ndarray, gain_db: float = 0.0) -> np.ndarray:
    """float64 (F,): RMS level of each 50 ms frame in dBFS (full-scale sine = -3 dB), after `gain_db`."""
    fr = _frames(np.asarray(samples, np.float64))
    rms = np.sqrt(np.mean(fr * fr, axis=1))
    return np.maximum(20.0 * np.log10(np.maximum(rms, 1e-12)), FLOOR_DB) + gain_db


def power_mean_db(levels_db: np.ndarray) -> float:
    return float(10.0 * np.log10(np.mean(10.0 ** (np.asarray(levels_db) / 10.0))))


def frame_pitch_hz(samples: np.ndarray, fmin: float = 70.0, fmax: float = 400.0) -> np.ndarray:
    """float64 (F,): autocorrelation pitch of each 50 ms frame, NaN where the frame is not voiced."""
    fr = _frames(np.asarray(samples, np.float64))
    fr = fr - fr.mean(axis=1, keepdims=True)
    n = fr.shape[1]
    spec = np.fft.rfft(fr, 2 * n, axis=1)
    ac = np.fft.irfft(spec * np.conj(spec), axis=1)[:, :n]  # all frames at once
    lo, hi = int(SAMPLE_RATE / fmax), int(SAMPLE_RATE / fmin)
    lag = lo + np.argmax(ac[:, lo:hi], axis=1)
    strength = ac[np.arange(len(ac)), lag] / np.maximum(ac[:, 0], 1e-12)
    return np.where(strength > 0.5, SAMPLE_RATE / lag, np.nan)


@dataclass(frozen=True)
class Recording:
    """One measured recording: per-frame levels for the page, and the summary numbers."""

    kind: str  # "ambient" or "speech"
    levels_db: list[float]
    level_db: float  # ambient: median frame level; speech: active-speech level
    pitch_hz: float | None


def measure(samples: np.ndarray, kind: str, *, gain_db: float = 0.0,
            ambient_db: float | None = None) -> Recording:
    """Summarise a recording; for speech, `ambient_db` (when known) decides which frames are speech."""
    levels = frame_levels_db(samples, gain_db)
    if len(levels) == 0:
        raise MicError("recording is shorter than one 50 ms frame")
    if kind == "ambient":
        return Recording(kind, levels.round(1).tolist(), float(np.median(levels)), None)
    if kind != "speech":
        raise ValueError(f"kind must be 'ambient' or 'speech', got {kind!r}")
    ref = ambient_db if ambient_db is not None else float(np.percentile(levels, 10))
    active = levels > ref + SPEECH_OVER_AMBIENT_DB
    if not active.any():
        raise MicError(f"no frame of the speech recording is {SPEECH_OVER_AMBIENT_DB:.0f} dB above the "
                       f"ambient level ({ref:.1f} dBFS); record while someone speaks near the microphone")
    pitch = frame_pitch_hz(samples)[: len(levels)][active]
    pitch = pitch[np.isfinite(pitch)]
    return Recording(kind, levels.round(1).tolist(), power_mean_db(levels[active]),
                     float(np.median(pitch)) if len(pitch) else None)
