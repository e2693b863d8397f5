"""Glue between the node's sources/events and evidence storage.

- `load_audio_file` / `FileMic`: a microphone read from an audio file (decoded and resampled once with
  PyAV), handed out as AudioChunks on the media clock; the file loops, like a live microphone that never
  stops, so footage longer than the recording stays covered.
- `clip_update`: the `update` event that carries a finished clip's path or URL in the `clip` field.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import av
import numpy as np

from detectors.types import AudioChunk, Event


def load_audio_file(path: str | Path, rate: int = 16000) -> np.ndarray:
    """float32 array (N,), mono, -1..1, resampled to `rate` Hz. Raises ValueError naming the file."""
    try:
        with av.open(str(path)) as c:
            if not c.streams.audio:
                raise ValueError(f"microphone file {path}: no audio stream")
            res = av.AudioResampler(format="flt", layout="mono", rate=rate)
            parts = [f.to_ndarray().reshape(-1) for fr in c.decode(audio=0) for f in res.resample(fr)]
            parts += [f.to_ndarray().reshape(-1) for f in res.resample(None)]
    except (OSError, av.error.FFmpegError) as e:
        raise ValueError(f"microphone file {path}: cannot decode it ({e})") from e
    if not parts:
        raise ValueError(f"microphone file {path}: no samples")
    return np.concatenate(parts).astype(np.float32)


class FileMic:
    """AudioChunks of a looping audio file, starting at media time `start_s`.

    `until(t_s)` returns the chunks (each `chunk_s` long) that together cover up to at least `t_s`.
    """

    def __init__(self, samples: np.ndarray, rate: int = 16000, *, chunk_s: float = 0.1,
                 start_s: float = 0.0) -> None:
        if len(samples) == 0:
            raise ValueError("FileMic: no samples")
        self.samples, self.rate = samples, rate
        self._n = max(1, int(round(chunk_s * rate)))
        self._pos = 0  # total samples handed out
        self.start_s = start_s

    def sample_at(self, t_s: float) -> int:
        """Index into `samples` of the sample played at media time t_s."""
        return int(round((t_s - self.start_s) * self.rate)) % len(self.samples)

    def until(self, t_s: float) -> list[AudioChunk]:
        out = []
        while self.start_s + self._pos / self.rate < t_s:
            i = self._pos % len(self.samples)
            seg = self.samples[i:i + self._n]
            out.append(AudioChunk(self.start_s + self._pos / self.rate, seg, self.rate))
            self._pos += len(seg)
        return out


def clip_update(event: Event, clip: str, t: float | None = None) -> Event:
    """The `update` event of an incident carrying its clip path/URL (sent when the clip is finished)."""
    return dataclasses.replace(event, state="update", clip=clip, t=event.t if t is None else t)
