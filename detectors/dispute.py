"""The counter-dispute rule: a window much louder and more strained than usual while people crowd its counter.

Pure: it takes one window's audio summary (`WindowAudio`), the number of people in its counter zone, an
optional counter-zone motion share and `now`, and returns events. It never reads the clock or the audio.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from detectors.config import DisputeRuleConfig
from detectors.types import Event, EventSource


@dataclass(frozen=True)
class WindowAudio:
    """One audio step of a window's microphone, already compared with its baseline.

    Attributes:
        over_db: dB over the microphone's speech baseline after hall-wide correction; None while no
            baseline is known.
        speech_prob: mean VAD speech probability of the step, 0..1.
        pitch_ratio: f0 / baseline f0; None where either is not measured.
        flatness: spectral flatness of the step, 0..1 (high: noise rather than voice).
        level_db: the step's speech level (or RMS when no speech), dBFS.
        hall_wide: the step was part of a hall-wide rise.
    """

    over_db: float | None
    speech_prob: float
    pitch_ratio: float | None = None
    flatness: float = 0.0
    level_db: float = -120.0
    hall_wide: bool = False


class DisputeRule:
    """Timer over one window.

    A step is *hot* when the microphone is at least `loudness_over_baseline_db` over its baseline, with
    speech (`min_speech_prob`), not noise (`max_flatness`), and the counter holds `min_people` or shows
    `agitated_motion`. The alert starts after `after_s` of hot steps (pauses up to `gap_tolerance_s` do
    not reset it) whose median pitch is raised by `min_pitch_ratio` over the baseline where pitch is
    measured, and ends after `clear_after_s` without a hot step. `update` sends an `update` event every `update_every_s` while active.
    """

    def __init__(self, source: EventSource, window_id: str, cfg: DisputeRuleConfig) -> None:
        self.source = source
        self.window_id = window_id
        self.cfg = cfg
        self._hot_since: float | None = None  # start of the current run of hot steps
        self._last_hot: float | None = None
        self._alert_started: float | None = None
        self._last_emit = 0.0
        self._peak: dict[str, object] = {}
        self._ratios: list[float] = []  # pitch ratios of the current hot run

    @property
    def active(self) -> bool:
        return self._alert_started is not None

    @property
    def pending(self) -> bool:
        """Hot steps are accumulating toward an alert (the baseline should not learn now)."""
        return self._hot_since is not None

    def audio_hot(self, a: WindowAudio | None) -> bool:
        """Loud speech, not noise (pitch is judged over the whole run, see `pitch_ok`)."""
        c = self.cfg
        if a is None or a.over_db is None or a.over_db < c.loudness_over_baseline_db:
            return False
        return a.speech_prob >= c.min_speech_prob and a.flatness <= c.max_flatness

    def pitch_ok(self) -> bool:
        """The run's median pitch ratio is raised, or pitch was not measured. One block's pitch is noisy
        (octave errors, several voices), so the condition looks at the median over the hot run."""
        if self.cfg.min_pitch_ratio <= 0 or not self._ratios:
            return True
        return float(np.median(self._ratios)) >= self.cfg.min_pitch_ratio

    def crowded(self, people: int, motion: float | None) -> bool:
        if people >= self.cfg.min_people:
            return True
        return self.cfg.agitated_motion is not None and motion is not None and motion >= self.cfg.agitated_motion

    def update(self, now: float, audio: WindowAudio | None, people: int,
               motion: float | None = None) -> list[Event]:
        hot = self.audio_hot(audio) and self.crowded(people, motion)
        if hot:
            assert audio is not None
            if self._hot_since is None or (self._last_hot is not None
                                           and now - self._last_hot > self.cfg.gap_tolerance_s):
                self._hot_since = now
                self._peak = {}
                self._ratios = []
            self._last_hot = now
            if audio.pitch_ratio is not None:
                self._ratios.append(audio.pitch_ratio)
            self._note(audio, people)
        elif self._last_hot is not None and now - self._last_hot > self.cfg.gap_tolerance_s:
            self._hot_since = None
        if not self.active:
            if hot and now - self._hot_since >= self.cfg.after_s and self.pitch_ok():  # type: ignore[operator]
                self._alert_started = self._last_emit = now
                ratio = round(float(np.median(self._ratios)), 3) if self._ratios else None
                return [self._event("start", now, people, hot_since=round(self._hot_since, 3),
                                    median_pitch_ratio=ratio)]
            return []
        if self._last_hot is not None and now - self._last_hot >= self.cfg.clear_after_s:
            ev = self._event("end", now, people, reason="calm",
                             alert_s=round(now - (self._alert_started or now), 3))
            self._alert_started = None
            self._hot_since = None
            self._peak = {}
            self._ratios = []
            return [ev]
        if now - self._last_emit >= self.cfg.update_every_s:
            self._last_emit = now
            return [self._event("update", now, people)]
        return []

    def end(self, now: float, people: int = 0, reason: str = "source_ended") -> list[Event]:
        """End an active alert now (the source ended); [] when none is active."""
        if not self.active:
            return []
        ev = self._event("end", now, people, reason=reason,
                         alert_s=round(now - (self._alert_started or now), 3))
        self._alert_started = self._hot_since = self._last_hot = None
        self._peak, self._ratios = {}, []
        return [ev]

    def _note(self, a: WindowAudio, people: int) -> None:
        """Keep the strongest levels of the current run for the event details."""
        p = self._peak
        over = a.over_db if a.over_db is not None else -math.inf
        if over > float(p.get("db_over_baseline") or -math.inf):
            p.update(db_over_baseline=round(over, 2), level_db=round(a.level_db, 2),
                     speech_prob=round(a.speech_prob, 3),
                     pitch_ratio=None if a.pitch_ratio is None else round(a.pitch_ratio, 3),
                     flatness=round(a.flatness, 3), hall_wide=a.hall_wide)
        p["max_people"] = max(int(p.get("max_people") or 0), people)

    def _event(self, state: str, now: float, people: int, **details: object) -> Event:
        started = self._alert_started if self._alert_started is not None else now
        over = float(self._peak.get("db_over_baseline") or 0.0)
        score = min(1.0, max(0.0, over / (2.0 * self.cfg.loudness_over_baseline_db)))
        return self.source.event("dispute", state, self.window_id, now, started,  # type: ignore[arg-type]
                                 score=score, people=people, details={**self._peak, **details})
