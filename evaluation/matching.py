"""Match predicted alert intervals to truth intervals and compute per-type metrics."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from evaluation.labels import Interval


@dataclass
class TypeMetrics:
    type: str
    tp: int = 0
    fp: int = 0
    fn: int = 0
    start_errors_s: list[float] = field(default_factory=list)

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else (1.0 if self.fn == 0 else 0.0)

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 1.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0

    def to_dict(self) -> dict:
        errs = np.abs(np.asarray(self.start_errors_s, dtype=float))
        return {
            "type": self.type, "tp": self.tp, "fp": self.fp, "fn": self.fn,
            "precision": round(self.precision, 4), "recall": round(self.recall, 4), "f1": round(self.f1, 4),
            "start_error_median_s": round(float(np.median(errs)), 3) if len(errs) else None,
            "start_error_p90_s": round(float(np.percentile(errs, 90)), 3) if len(errs) else None,
        }


@dataclass(frozen=True)
class Match:
    truth: Interval
    predicted: Interval

    @property
    def start_error_s(self) -> float:
        return self.predicted.start - self.truth.start


def _compatible(t: Interval, p: Interval, tolerance_s: float) -> bool:
    if t.type != p.type or t.window != p.window:
        return False
    if t.camera is not None and p.camera is not None and t.camera != p.camera:
        return False
    overlaps = p.start <= t.end and t.start <= p.end
    return overlaps and abs(p.start - t.start) <= tolerance_s


def match(truth: list[Interval], predicted: list[Interval], tolerance_s: float = 2.0
          ) -> tuple[list[Match], list[Interval], list[Interval]]:
    """Greedy one-to-one matching by smallest start error.

    A pair matches when type and window agree, the intervals overlap and the starts differ by at most
    `tolerance_s`. Returns (matches, unmatched predictions = false positives, unmatched truth = misses).
    """
    pairs = [(abs(p.start - t.start), i, j) for i, t in enumerate(truth) for j, p in enumerate(predicted)
             if _compatible(t, p, tolerance_s)]
    pairs.sort()
    used_t: set[int] = set()
    used_p: set[int] = set()
    matches = []
    for _, i, j in pairs:
        if i in used_t or j in used_p:
            continue
        used_t.add(i)
        used_p.add(j)
        matches.append(Match(truth[i], predicted[j]))
    fps = [p for j, p in enumerate(predicted) if j not in used_p]
    fns = [t for i, t in enumerate(truth) if i not in used_t]
    return matches, fps, fns


def metrics(truth: list[Interval], predicted: list[Interval], tolerance_s: float = 2.0
            ) -> dict[str, TypeMetrics]:
    """Per event type (only types present in truth or predictions)."""
    matches, fps, fns = match(truth, predicted, tolerance_s)
    types = sorted({iv.type for iv in truth} | {iv.type for iv in predicted})
    out = {k: TypeMetrics(k) for k in types}
    for m in matches:
        out[m.truth.type].tp += 1
        out[m.truth.type].start_errors_s.append(m.start_error_s)
    for p in fps:
        out[p.type].fp += 1
    for t in fns:
        out[t.type].fn += 1
    return out
