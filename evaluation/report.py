"""Evaluation report: a text table, a JSON object and a timeline plot of truth against predictions."""

from __future__ import annotations

from pathlib import Path

from evaluation.labels import Interval
from evaluation.matching import TypeMetrics

COLUMNS = ("type", "tp", "fp", "fn", "precision", "recall", "f1", "start_error_median_s", "start_error_p90_s")


def overall(per_type: dict[str, TypeMetrics]) -> TypeMetrics:
    total = TypeMetrics("all")
    for m in per_type.values():
        total.tp += m.tp
        total.fp += m.fp
        total.fn += m.fn
        total.start_errors_s += m.start_errors_s
    return total


def as_json(per_type: dict[str, TypeMetrics], tolerance_s: float) -> dict:
    return {"tolerance_s": tolerance_s, "types": {k: m.to_dict() for k, m in per_type.items()},
            "all": overall(per_type).to_dict()}


def as_table(per_type: dict[str, TypeMetrics]) -> str:
    rows = [m.to_dict() for m in per_type.values()] + [overall(per_type).to_dict()]
    cells = [[str(c) for c in COLUMNS]] + [["-" if r[c] is None else str(r[c]) for c in COLUMNS] for r in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(COLUMNS))]
    lines = ["  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)) for row in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def plot_timeline(truth: list[Interval], predicted: list[Interval], out: str | Path) -> Path:
    """A PNG with one lane per (type, window): truth bars above, predicted bars below."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    lanes = sorted({(iv.type, str(iv.window)) for iv in truth + predicted})
    fig, ax = plt.subplots(figsize=(11, 1.0 + 0.7 * max(1, len(lanes))))
    for k, lane in enumerate(lanes):
        t_bars = [(iv.start, iv.end - iv.start) for iv in truth if (iv.type, str(iv.window)) == lane]
        p_bars = [(iv.start, max(iv.end - iv.start, 0.2)) for iv in predicted
                  if (iv.type, str(iv.window)) == lane]
        ax.broken_barh(t_bars, (k + 0.05, 0.4), facecolors="tab:green", label="truth" if k == 0 else None)
        ax.broken_barh(p_bars, (k - 0.45, 0.4), facecolors="tab:red", label="predicted" if k == 0 else None)
    ax.set_yticks(range(len(lanes)), [f"{t} {w}" for t, w in lanes])
    ax.set_xlabel("media time (s)")
    ax.set_title("HallWatch evaluation: truth (green, upper) vs alerts (red, lower)")
    ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0))
    ax.grid(axis="x", alpha=0.3)
    fig.tight_layout()
    out = Path(out)
    fig.savefig(out, dpi=100)
    plt.close(fig)
    return out
