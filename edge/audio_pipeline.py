"""The node's audio path: microphones -> features -> baselines -> hall-wide rejection -> dispute rules.

Usage (the frame loop or replay drives it; all times are on the media/capture clock):

    audio = AudioPipeline(cfg, lambda window_id: EventSource(site, node, camera_of_window))
    for key, source in audio.inputs().items(): ...open_audio(source)...
    audio.push(key, chunk)                                    # as chunks arrive, in time order per input
    events = audio.update(now, {"W1": 2, "W2": 0})            # with each analysed frame
    stats = audio.levels()                                    # for the node's stats topic

Inputs are keyed by microphone id, or `camera:<camera id>` for a window whose `microphone` is `camera`.
`push` re-blocks each input into 0.512 s blocks (16 VAD frames), applies the microphone's `gain_db`, and
extracts features right away. `update(now)` then evaluates every 0.512 s step on a shared time grid whose
end is at or before `now`, once every input has delivered that step or `max_lag_s` has passed (so a dead
microphone cannot stall the others); events are stamped with the step's end.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import numpy as np

from detectors.audio_baseline import MicBaseline
from detectors.audio_features import (
    BLOCK,
    BLOCK_S,
    FRAMES_PER_BLOCK,
    SAMPLE_RATE,
    AudioFeatures,
    extract,
    warm_up,
)
from detectors.dispute import DisputeRule, WindowAudio
from detectors.hall_noise import HallNoise
from detectors.types import AudioChunk, Event, EventSource
from edge.audio_sources import AudioSourceError, check_source, open_audio
from edge.config import NodeConfig
from models.vad import SileroVad

log = logging.getLogger(__name__)


def camera_key(camera_id: str) -> str:
    return f"camera:{camera_id}"


@dataclass
class _Mic:
    """One audio input: re-blocking buffer, VAD state, baseline, features waiting for their step."""

    key: str
    source: str
    gain: float
    vad: SileroVad
    baseline: MicBaseline
    buf: np.ndarray = field(default_factory=lambda: np.zeros(0, np.float32))
    buf_ts: float | None = None  # time of buf[0]
    ready: dict[int, AudioFeatures] = field(default_factory=dict)  # step index -> features
    last_step: int | None = None
    last: AudioFeatures | None = None
    last_over_db: float | None = None
    cpu_s: float = 0.0
    audio_s: float = 0.0
    gaps: int = 0


class AudioPipeline:
    """All microphones of one node and the dispute rule of every window that has one."""

    def __init__(self, cfg: NodeConfig, event_source: Callable[[str], EventSource] | None = None, *,
                 max_lag_s: float = 2.0, vad_model: str | None = None) -> None:
        rule_cfg = cfg.rules.dispute
        self.cfg = cfg
        self.max_lag_s = max_lag_s
        self.hall = HallNoise(rule_cfg.hall_wide)
        self.mics: dict[str, _Mic] = {}
        for m in cfg.microphones:
            b = m.baseline
            seed = dict(speech_db=b.speech_db, pitch_hz=b.pitch_hz, ambient_db=b.ambient_db) if b else {}
            self.mics[m.id] = _Mic(m.id, m.source, 10.0 ** (m.gain_db / 20.0), SileroVad(vad_model),
                                   MicBaseline(rule_cfg.baseline, **seed))
        self.window_mic: dict[str, str] = {}
        self.rules: dict[str, DisputeRule] = {}
        for w in cfg.windows:
            if w.microphone is None:
                continue
            key = camera_key(w.camera) if w.microphone == "camera" else w.microphone
            if key not in self.mics:  # a camera's own audio track
                self.mics[key] = _Mic(key, cfg.camera(w.camera).source, 1.0, SileroVad(vad_model),
                                      MicBaseline(rule_cfg.baseline))
            src = event_source(w.id) if event_source else EventSource(cfg.site, cfg.node, w.camera)
            self.window_mic[w.id] = key
            self.rules[w.id] = DisputeRule(src, w.id, rule_cfg)
        self._next_step: int | None = None
        self._hall_steps = 0

    def inputs(self) -> dict[str, str]:
        """{input key: source to open}, e.g. {"mic1": "/data/w1.wav", "camera:cam2": "rtsp://..."}."""
        return {k: m.source for k, m in self.mics.items()}

    def push(self, key: str, chunk: AudioChunk) -> None:
        """Add one chunk (16 kHz mono float32) of input `key`; chunks of one input come in time order."""
        mic = self.mics.get(key)
        if mic is None:
            raise KeyError(f"audio input {key!r} is not configured (have {sorted(self.mics)})")
        if chunk.sample_rate != SAMPLE_RATE:
            raise ValueError(f"audio input {key!r}: expected {SAMPLE_RATE} Hz chunks, got {chunk.sample_rate}")
        t0 = time.thread_time()  # CPU time of this thread (the VAD runs on it): not inflated by a busy host
        x = np.asarray(chunk.samples, np.float32).reshape(-1) * np.float32(mic.gain)
        expected = None if mic.buf_ts is None else mic.buf_ts + len(mic.buf) / SAMPLE_RATE
        if expected is None or abs(chunk.ts - expected) > 0.1:  # first chunk, or a gap: restart blocks
            if expected is not None:
                mic.gaps += 1
                log.info("audio input %s: jump from %.3f to %.3f s, restarting blocks", key, expected, chunk.ts)
            mic.buf, mic.buf_ts = x, chunk.ts
            mic.vad.reset()
        else:
            mic.buf = np.concatenate([mic.buf, x])
        while len(mic.buf) >= BLOCK:
            block, mic.buf = mic.buf[:BLOCK], mic.buf[BLOCK:]
            ts = float(mic.buf_ts)
            mic.buf_ts = ts + BLOCK_S
            probs = mic.vad.probs(block)
            if len(probs) != FRAMES_PER_BLOCK:  # only after a reset mid-frame; keep the grid honest
                probs = np.resize(probs, FRAMES_PER_BLOCK)
            f = extract(ts, block, probs)
            step = int(round(ts / BLOCK_S))
            mic.ready[step] = f
            mic.last_step = step
            mic.audio_s += BLOCK_S
        mic.cpu_s += time.thread_time() - t0

    def update(self, now: float, counter_people: dict[str, int],
               counter_motion: dict[str, float] | None = None) -> list[Event]:
        """Evaluate every audio step that ended by `now`; counts are the latest per window id."""
        events: list[Event] = []
        if self._next_step is None:
            firsts = [min(m.ready) for m in self.mics.values() if m.ready]
            if not firsts:
                return events
            self._next_step = min(firsts)
        last_done = math.floor(now / BLOCK_S + 1e-9) - 1  # steps whose end is at or before now
        while self._next_step <= last_done:
            k = self._next_step
            end = (k + 1) * BLOCK_S
            waiting = any(m.last_step is None or m.last_step < k for m in self.mics.values())
            if waiting and now < end + self.max_lag_s:
                break
            events += self._step(k, end, counter_people, counter_motion or {})
            self._next_step = k + 1
        for m in self.mics.values():  # steps that came too late to be evaluated
            for s in [s for s in m.ready if s < self._next_step]:
                del m.ready[s]
        return events

    def _step(self, k: int, end: float, people: dict[str, int], motion: dict[str, float]) -> list[Event]:
        feats = {key: m.ready.pop(k, None) for key, m in self.mics.items()}
        rises: dict[str, float | None] = {}
        ratios: dict[str, float | None] = {}
        for key, f in feats.items():
            rises[key], ratios[key] = self.mics[key].baseline.rise(f) if f else (None, None)
        eff = self.hall.update(rises, {k: (f.frame_db if f else None) for k, f in feats.items()}, end)
        self._hall_steps += self.hall.active
        events: list[Event] = []
        busy: set[str] = set()  # inputs whose windows are loud or alerting: their baseline must not learn
        for wid, rule in self.rules.items():
            key = self.window_mic[wid]
            f = feats[key]
            audio = None if f is None else WindowAudio(
                over_db=eff[key], speech_prob=f.speech_prob, pitch_ratio=ratios[key], flatness=f.flatness,
                level_db=f.speech_db if f.has_speech else f.rms_db, hall_wide=self.hall.active)
            events += rule.update(end, audio, int(people.get(wid, 0)), motion.get(wid))
            if rule.active or rule.pending or rule.audio_hot(audio):
                busy.add(key)
        for key, f in feats.items():
            if f is None:
                continue
            mic = self.mics[key]
            mic.baseline.update(f, frozen=self.hall.active or key in busy)
            mic.last, mic.last_over_db = f, eff[key]
        return events

    def close(self, now: float, counter_people: dict[str, int]) -> list[Event]:
        """The sources ended at `now`: evaluate every step left, then end the alerts still active."""
        events = self.update(now + self.max_lag_s + BLOCK_S, counter_people)
        for wid, rule in self.rules.items():
            events += rule.end(now, int(counter_people.get(wid, 0)))
        return events

    def levels(self) -> dict[str, dict]:
        """Per input: last block's features, its baseline, dB over it, CPU real-time factor."""
        out: dict[str, dict] = {}
        for key, m in self.mics.items():
            d: dict = m.last.to_dict() if m.last else {}
            d.update(m.baseline.to_dict())
            d["over_baseline_db"] = None if m.last_over_db is None else round(m.last_over_db, 2)
            d["hall_wide"] = self.hall.active
            d["rtf"] = round(m.cpu_s / m.audio_s, 5) if m.audio_s else None
            d["audio_s"] = round(m.audio_s, 1)
            d["gaps"] = m.gaps
            out[key] = d
        return out

    def active_windows(self) -> list[str]:
        return [w for w, r in self.rules.items() if r.active]

    def chunk_streams(self, chunk_s: float = BLOCK_S) -> list[Iterator[tuple[float, str, AudioChunk]]]:
        """One (ts, input key, chunk) iterator per input, opened from `inputs()` (for replay's merge)."""
        def tagged(key: str, source: str) -> Iterator[tuple[float, str, AudioChunk]]:
            for chunk in open_audio(source, chunk_s=chunk_s):
                yield chunk.ts, key, chunk

        return [tagged(k, src) for k, src in self.inputs().items()]


def build_audio(cfg: NodeConfig, event_source: Callable[[str], EventSource] | None = None,
                **kw: object) -> AudioPipeline | None:
    """The node's audio pipeline, or None when no window has a microphone. Warms librosa up once."""
    if not any(w.microphone for w in cfg.windows):
        return None
    for w in cfg.windows:
        if w.microphone and w.counter is None and cfg.rules.dispute.min_people > 0:
            log.warning("window %s has a microphone but no counter zone: with min_people > 0 only "
                        "agitated_motion can raise its disputes", w.id)
    pipe = AudioPipeline(cfg, event_source, **kw)  # type: ignore[arg-type]
    for key, source in pipe.inputs().items():
        try:
            check_source(source)
        except AudioSourceError as exc:
            raise AudioSourceError(f"audio input {key}: {exc}") from None
    warm_up()
    return pipe
