"""Audio sources: a file's or stream's audio track (PyAV) and a local microphone (sounddevice / ALSA).

Every source yields `AudioChunk`s of 16 kHz mono float32, `chunk_s` long (the last may be shorter), each
stamped with the time of its first sample on the same clock as the video:
- files (wav/ogg/mp3/m4a, or the audio track of a video file): media seconds from the file's start, the
  same origin as `edge/sources.py` gives frames (the video stream's first timestamp, else the container's);
- streams (rtsp://, http://): media seconds from the first packet;
- live devices: capture epoch seconds.

Sources name how to open them: a path or URL (PyAV), `sounddevice:<device>` (PortAudio through the
optional `sounddevice` package; needs the Debian package `libportaudio2`), or `alsa:<device>` (PyAV's
ALSA input, e.g. `alsa:hw:1,0`; needs an FFmpeg built with ALSA, as PyAV's wheels are).
"""

from __future__ import annotations

import logging
import queue
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from detectors.types import AudioChunk
from edge.sources import SourceError

log = logging.getLogger(__name__)

SAMPLE_RATE = 16000


class AudioSourceError(SourceError):
    """An audio source cannot be opened or has no audio; the message names it."""


def check_source(source: str) -> None:
    """Fail now, with the source's name, when a file source does not exist (URLs and devices pass)."""
    if "://" in source or source.startswith(("sounddevice:", "alsa:")):
        return
    if not Path(source).is_file():
        raise AudioSourceError(f"audio source {source!r} does not exist")


def _rechunk(pieces: Iterator[tuple[float, np.ndarray]], chunk: int, gain: float) -> Iterator[AudioChunk]:
    """Cut (ts of first sample, samples) pieces into chunks of `chunk` samples with their own timestamps.

    Time follows the first piece's timestamp plus the samples counted since, so chunk stamps never drift;
    a piece more than 0.1 s away from that count (a gap or jump in the stream) restarts the count there.
    """
    buf: list[np.ndarray] = []
    have = 0
    t0: float | None = None
    counted = 0  # samples since t0
    for ts, x in pieces:
        if t0 is None or abs(ts - (t0 + (counted + have) / SAMPLE_RATE)) > 0.1:
            if have:  # flush what we have before the jump
                yield AudioChunk(t0 + counted / SAMPLE_RATE, np.concatenate(buf) * gain, SAMPLE_RATE)
            t0, counted, buf, have = ts, 0, [], 0
        buf.append(x)
        have += len(x)
        while have >= chunk:
            data = np.concatenate(buf)
            yield AudioChunk(t0 + counted / SAMPLE_RATE, data[:chunk] * gain, SAMPLE_RATE)
            counted += chunk
            buf, have = [data[chunk:]], have - chunk
    if have and t0 is not None:
        yield AudioChunk(t0 + counted / SAMPLE_RATE, np.concatenate(buf) * gain, SAMPLE_RATE)


def _origin(container) -> float | None:
    """Media second 0 of a file: its video stream's first timestamp when it has one (edge/sources.py counts
    frame times from there, so a camera's own audio lines up with its frames), else the container start."""
    for v in container.streams.video:
        if v.start_time is not None and v.time_base is not None:
            return float(v.start_time * v.time_base)
    return container.start_time / 1e6 if container.start_time is not None else None


def _pyav_pieces(source: str, fmt: str | None, live: bool) -> Iterator[tuple[float, np.ndarray]]:
    import av

    try:
        container = av.open(source, format=fmt, timeout=10.0)
    except (av.error.FFmpegError, OSError) as exc:
        raise AudioSourceError(f"cannot open audio source {source!r}: {exc}") from None
    with container:
        if not container.streams.audio:
            raise AudioSourceError(f"{source!r} has no audio track (use a separate microphone source)")
        stream = container.streams.audio[0]
        resampler = av.AudioResampler(format="flt", layout="mono", rate=SAMPLE_RATE)
        start = _origin(container)
        epoch0 = time.time() if live else 0.0
        t_next: float | None = None
        for frame in container.decode(stream):
            if frame.pts is not None and frame.time_base is not None:
                t = float(frame.pts * frame.time_base)
                if start is None:
                    start = t
                t_in = t - start + epoch0
            else:
                t_in = t_next if t_next is not None else epoch0
            for out in resampler.resample(frame):
                x = out.to_ndarray().reshape(-1).astype(np.float32, copy=False)
                # the resampler may delay output a little: stamp consecutive output by sample count
                ts = t_in if t_next is None or abs(t_in - t_next) > 0.1 else t_next
                yield ts, x
                t_next = ts + len(x) / SAMPLE_RATE
        for out in resampler.resample(None):
            x = out.to_ndarray().reshape(-1).astype(np.float32, copy=False)
            yield (t_next if t_next is not None else epoch0), x


def _sounddevice_pieces(device: str, block_s: float) -> Iterator[tuple[float, np.ndarray]]:
    try:
        import sounddevice as sd  # optional: PortAudio, Debian package libportaudio2
    except (ImportError, OSError) as exc:
        raise AudioSourceError(f"sounddevice:{device} needs `pip install sounddevice` and the Debian "
                               f"package libportaudio2 ({exc})") from None
    q: queue.Queue[tuple[float, np.ndarray]] = queue.Queue(maxsize=64)  # ~32 s at 0.5 s blocks
    dropped = 0

    def callback(indata: np.ndarray, frames: int, t: object, status: object) -> None:
        nonlocal dropped
        ts = time.time() - frames / SAMPLE_RATE
        try:
            q.put_nowait((ts, indata[:, 0].copy()))
        except queue.Full:  # drop policy: drop newest, counted
            dropped += 1
            log.warning("microphone %s: consumer too slow, dropped %d blocks", device, dropped)

    dev: str | int | None = int(device) if device.isdigit() else (device or None)
    try:
        stream = sd.InputStream(device=dev, channels=1, samplerate=SAMPLE_RATE, dtype="float32",
                                blocksize=int(block_s * SAMPLE_RATE), callback=callback)
    except sd.PortAudioError as exc:
        raise AudioSourceError(f"cannot open microphone sounddevice:{device}: {exc}") from None
    with stream:
        while True:
            yield q.get()


def open_audio(source: str, *, chunk_s: float = 0.512, gain_db: float = 0.0,
               live: bool | None = None) -> Iterator[AudioChunk]:
    """Iterate a source's audio as 16 kHz mono chunks; raises AudioSourceError naming the source.

    `live` stamps chunks with epoch seconds (default: for URLs and devices) instead of media seconds."""
    if chunk_s <= 0:
        raise ValueError(f"chunk_s must be > 0, got {chunk_s}")
    chunk = int(round(chunk_s * SAMPLE_RATE))
    gain = np.float32(10.0 ** (gain_db / 20.0))
    if source.startswith("sounddevice:"):
        pieces = _sounddevice_pieces(source.removeprefix("sounddevice:"), chunk_s)
    elif source.startswith("alsa:"):
        pieces = _pyav_pieces(source.removeprefix("alsa:") or "default", "alsa", live=True)
    else:
        is_url = "://" in source
        check_source(source)
        pieces = _pyav_pieces(source, None, live=is_url if live is None else live)
    return _rechunk(pieces, chunk, gain)


def read_audio(source: str, *, gain_db: float = 0.0) -> np.ndarray:
    """A whole file's audio as one float32 (N,) 16 kHz mono array (for calibration and tests)."""
    parts = [c.samples for c in open_audio(source, chunk_s=10.0, gain_db=gain_db)]
    return np.concatenate(parts) if parts else np.zeros(0, np.float32)
