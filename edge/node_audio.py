"""Microphones in the live node (`hallwatch edge`): reader threads -> bounded queue -> `AudioPipeline`.

    audio = NodeAudio.build(cfg, speed=1.0)      # None when no window has a microphone
    audio.start()
    audio.drain()                                # main thread, every loop turn: chunks into the pipeline
    events = audio.update(frame.ts, counts)      # after each analysed frame: dispute events
    snap["audio"] = audio.levels()
    audio.stop()

One reader thread per audio input (a microphone, or `camera:<id>`: a camera's own audio track, opened as a
second reader of the camera's source). Chunk times are on the clock of the live node's video frames:
- files are paced at real time (times `speed`) from when the readers start, stamped in media seconds from
  the file's start, like the capture processes' `PacedFile` frames (edge/capture.py); readers start before
  the capture processes, so audio is never behind the video it is judged with;
- live sources (URLs, `sounddevice:`, `alsa:`) come as captured, stamped in epoch seconds, like live frames.
A node that mixes file cameras with live microphones (or the reverse) has two clocks that never meet: it
logs that once at start.
The queue holds `queue_chunks` chunks (about 0.5 s each); when full the newest chunk is dropped (policy
drop_newest) and counted in `levels()[key]["dropped"]`. Feature extraction (VAD) runs on the main thread in
`drain()`, about 1-3 ms per 0.5 s chunk and input.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable

from detectors.audio_features import BLOCK_S, SAMPLE_RATE
from detectors.types import AudioChunk, Event
from edge.audio_pipeline import AudioPipeline, build_audio
from edge.audio_sources import AudioSourceError, open_audio
from edge.config import NodeConfig
from edge.sources import is_live

log = logging.getLogger(__name__)
ChunkHook = Callable[[str, AudioChunk], None]


def _is_live_audio(source: str) -> bool:
    return "://" in source or source.startswith(("sounddevice:", "alsa:")) or is_live(source)


class NodeAudio:
    """Audio inputs of the live node feeding one `AudioPipeline`; `hooks` get every chunk (clips)."""

    def __init__(self, pipeline: AudioPipeline, *, speed: float = 1.0, queue_chunks: int = 256,
                 retry_max_s: float = 30.0) -> None:
        self.pipeline = pipeline
        self.speed = speed
        self.retry_max_s = retry_max_s
        self.hooks: list[ChunkHook] = []
        self._q: queue.Queue[tuple[str, AudioChunk]] = queue.Queue(maxsize=queue_chunks)
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self.counts: dict[str, dict[str, int]] = {k: {"chunks": 0, "dropped": 0, "errors": 0, "ended": 0}
                                                  for k in pipeline.inputs()}

    @classmethod
    def build(cls, cfg: NodeConfig, **kw: float) -> NodeAudio | None:
        pipe = build_audio(cfg)
        if pipe is None:
            return None
        live_audio = {_is_live_audio(s) for s in pipe.inputs().values()}
        live_video = {is_live(c.source) for c in cfg.cameras}
        if len(live_audio | live_video) > 1:
            log.warning("audio: file and live sources are mixed; file times are media seconds, live times "
                        "epoch seconds, so microphones and cameras will not line up")
        return cls(pipe, **kw)  # type: ignore[arg-type]

    def start(self) -> None:
        t0 = time.monotonic()
        for key, source in self.pipeline.inputs().items():
            t = threading.Thread(target=self._read, args=(key, source, t0), name=f"audio-{key}", daemon=True)
            t.start()
            self._threads.append(t)

    def stop(self) -> None:
        self._stop.set()
        for t in self._threads:
            t.join(2.0)  # a live device blocked in a read is a daemon thread; it ends with the process

    # ---- reader threads --------------------------------------------------------------------------------
    def _read(self, key: str, source: str, t0: float) -> None:
        live = _is_live_audio(source)
        backoff = 1.0
        while not self._stop.is_set():
            try:
                for chunk in open_audio(source, chunk_s=BLOCK_S, live=live):
                    if not live:  # a file plays like a microphone: a chunk is there once its last sample is
                        due = t0 + (chunk.ts + len(chunk.samples) / SAMPLE_RATE) / self.speed
                        if self._stop.wait(max(0.0, due - time.monotonic())):
                            return
                    elif self._stop.is_set():
                        return
                    self._put(key, chunk)
                    backoff = 1.0
            except (AudioSourceError, OSError, ValueError) as exc:
                self.counts[key]["errors"] += 1
                log.error("audio input %s: %s", key, exc)
            if not live:
                self.counts[key]["ended"] = 1
                log.info("audio input %s: %s ended", key, source)
                return
            log.warning("audio input %s: reopening in %.0f s", key, backoff)
            if self._stop.wait(backoff):
                return
            backoff = min(2 * backoff, self.retry_max_s)

    def _put(self, key: str, chunk: AudioChunk) -> None:
        try:
            self._q.put_nowait((key, chunk))
        except queue.Full:
            self.counts[key]["dropped"] += 1
            log.warning("audio input %s: node behind, chunk dropped (%d)", key, self.counts[key]["dropped"])

    # ---- main thread -----------------------------------------------------------------------------------
    def drain(self) -> int:
        """Push every queued chunk into the pipeline (and the hooks); returns how many."""
        n = 0
        while True:
            try:
                key, chunk = self._q.get_nowait()
            except queue.Empty:
                return n
            n += 1
            self.counts[key]["chunks"] += 1
            try:
                self.pipeline.push(key, chunk)
            except (KeyError, ValueError) as exc:
                self.counts[key]["errors"] += 1
                log.error("audio input %s: chunk at %.2f s rejected: %s", key, chunk.ts, exc)
                continue
            for hook in self.hooks:
                hook(key, chunk)

    def update(self, now: float, counter_people: dict[str, int]) -> list[Event]:
        return self.pipeline.update(now, counter_people)

    def levels(self) -> dict[str, dict]:
        out = self.pipeline.levels()
        for key, c in self.counts.items():
            out.setdefault(key, {}).update(c)
        return out
