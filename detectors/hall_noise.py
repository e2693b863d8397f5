"""Hall-wide rejection: a PA announcement or crowd noise raises every microphone; no window is to blame.

The rule (parameters in `rules.dispute.hall_wide`, see `HallWideConfig` for the full statement): at each
0.512 s audio step take every microphone's rise over its own speech baseline (dB). A microphone that rose
`local_margin_db` more than the median of the others is *local* (a sound near it: the others hear only its
cross-talk) and does not count toward a hall-wide rise, nor does a risen microphone whose envelope
correlates with a local one (it is hearing that sound: its rise is reduced by the median rise of the
others, as below, even when the step is not hall-wide). The step is hall-wide when at least `min_mics`
microphones rose by `rise_db` or more without being local, and they are either `min_fraction` of the
microphones with a baseline and rising *together* (their 32 ms level envelopes over the last `envelope_s`
correlate by `min_correlation` on average: one sound heard everywhere), or `crowd_fraction` of them. It
stays hall-wide for `hold_s` after the last such step. While hall-wide, each microphone's rise is reduced
by the median rise of the *other* microphones: a window is raised only by what it has beyond the hall's
common noise, so a quarrel far louder than the announcement still counts (the median of the others, not of
all, so that with few microphones a quarrel's own cross-talk cannot cancel it).

With fewer than `min_mics` microphones with a baseline there is nothing to compare and nothing is rejected.
"""

from __future__ import annotations

from collections import deque

import numpy as np

from detectors.audio_config import HallWideConfig
from detectors.audio_features import BLOCK_S


def mean_correlation(envelopes: np.ndarray) -> float:
    """Mean pairwise Pearson correlation of the rows of (M, L) envelopes; 0 for fewer than two rows."""
    if len(envelopes) < 2:
        return 0.0
    x = envelopes - envelopes.mean(axis=1, keepdims=True)
    norm = np.sqrt((x * x).sum(axis=1))
    x = x / np.maximum(norm, 1e-9)[:, None]
    c = x @ x.T
    m = len(c)
    return float((c.sum() - np.trace(c)) / (m * (m - 1)))


class HallNoise:
    """Per-step hall-wide detector over all microphones of a node.

    `update(rises, envelopes, now)` takes {mic id: dB over its baseline, or None when unknown} and
    {mic id: float (16,) frame levels in dB of this step, or None} for one step, and returns
    {mic id: effective rise or None}. `active`, `correlation` and `median_db` describe the step.
    """

    def __init__(self, cfg: HallWideConfig) -> None:
        self.cfg = cfg
        self.active = False
        self.median_db = 0.0
        self.correlation = 0.0
        self.crosstalk: list[str] = []
        self._last_wide: float | None = None
        self._blocks = max(1, int(round(cfg.envelope_s / BLOCK_S)))
        self._env: dict[str, deque[np.ndarray]] = {}

    def _history(self, envelopes: dict[str, np.ndarray | None]) -> None:
        for k, e in envelopes.items():
            h = self._env.setdefault(k, deque(maxlen=self._blocks))
            if e is None or not len(e):
                h.clear()  # a gap: the envelope restarts
            else:
                h.append(np.asarray(e, np.float64))

    def update(self, rises: dict[str, float | None], envelopes: dict[str, np.ndarray | None] | None,
               now: float) -> dict[str, float | None]:
        c = self.cfg
        self._history(envelopes or {})
        known = {k: v for k, v in rises.items() if v is not None}
        vals = np.fromiter(known.values(), np.float64, len(known))
        others = {k: max(0.0, float(np.median([o for kk, o in known.items() if kk != k]))) if len(known) > 1
                  else 0.0 for k in known}
        local = [k for k, v in known.items() if v >= c.rise_db and v - others[k] >= c.local_margin_db]
        risen = [k for k, v in known.items() if v >= c.rise_db and k not in local]
        env = {k: np.concatenate(self._env[k]) for k in known if len(self._env.get(k, ())) == self._blocks}
        # a risen microphone whose envelope follows a local one hears that local sound (cross-talk)
        self.crosstalk = [k for k in risen if k in env and any(
            loc in env and mean_correlation(np.stack([env[k], env[loc]])) >= c.min_correlation for loc in local)]
        risen = [k for k in risen if k not in self.crosstalk]
        wide_now = False
        self.correlation = 0.0
        if len(known) >= c.min_mics and len(risen) >= c.min_mics:
            full = [k for k in risen if k in env]
            if len(full) >= 2:
                self.correlation = mean_correlation(np.stack([env[k] for k in full]))
            together = len(risen) >= c.min_fraction * len(known) and self.correlation >= c.min_correlation
            wide_now = together or len(risen) >= c.crowd_fraction * len(known)
        if wide_now:
            self._last_wide = now
        self.active = self._last_wide is not None and now - self._last_wide <= c.hold_s
        if not self.active or not len(vals):
            self.median_db = 0.0
            return {k: (v - others[k] if k in self.crosstalk and v is not None else v) for k, v in rises.items()}
        # each microphone is compared with the others: with few microphones the median of all would be the
        # cross-talk of the loud one itself. During the hold the rises are small and the correction harmless.
        self.median_db = max(0.0, float(np.median(vals)))
        return {k: (None if v is None else v - others[k]) for k, v in rises.items()}
