"""Floor-scale fitting for the editor: check a floor calibration and give the metre grid to draw over it.

The fit and its checks (too few points, collinear points, a map that folds or explodes) belong to
`detectors.floor`; this module only calls it and turns the homography into grid polylines in relative
image coordinates for the page and the preview.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from detectors.config import FloorConfig

try:  # the real fit lives in detectors/floor.py (branch `chatting`); until it lands, a minimal interim
    from detectors.floor import FloorCalibrationError, fit_homography
except ImportError:  # pragma: no cover - removed once detectors/floor.py is on main
    from calibration._floor_interim import FloorCalibrationError, fit_homography

__all__ = ["FloorCalibrationError", "FloorCheck", "check_floor", "grid_lines_rel"]


@dataclass(frozen=True)
class FloorCheck:
    """A usable floor calibration.

    Attributes:
        homography: float64 (3, 3), relative image [x, y, 1] -> floor metres (homogeneous).
        residual_m: largest distance between a measured floor point and where the map puts it, metres.
        grid_rel: polylines of the metre grid, each a list of [x, y] relative image points.
        step_m: grid spacing, metres.
    """

    homography: np.ndarray
    residual_m: float
    grid_rel: list[list[list[float]]]
    step_m: float


def check_floor(floor: FloorConfig, *, samples: int = 24) -> FloorCheck:
    """Fit `floor`; raises FloorCalibrationError with the reason when it is not usable."""
    img = np.asarray(floor.image, np.float64)
    flo = np.asarray(floor.metres, np.float64)
    h = fit_homography(img, flo)
    hom = np.c_[img, np.ones(len(img))] @ h.T
    residual = float(np.linalg.norm(hom[:, :2] / hom[:, 2:3] - flo, axis=1).max())
    grid, step = grid_lines_rel(h, flo, samples=samples)
    return FloorCheck(h, residual, grid, step)


def _nice_step(span_m: float, max_lines: int) -> float:
    """1, 2 or 5 x 10^k metres so that `span_m` holds at most `max_lines` lines (at least 0.5 m)."""
    raw = max(span_m / max_lines, 0.5)
    k = 10.0 ** math.floor(math.log10(raw))
    return next(m * k for m in (1.0, 2.0, 5.0, 10.0) if m * k >= raw)


def grid_lines_rel(h: np.ndarray, metres: np.ndarray, *, margin: float = 0.15, max_lines: int = 16,
                   samples: int = 24) -> tuple[list[list[list[float]]], float]:
    """Lines of constant X and Y on the floor, drawn in the image.

    The grid covers the calibration points' floor extent plus `margin` of it on each side; each line is
    sampled at `samples` points and mapped with the inverse homography. Parts behind the camera (w <= 0)
    or far outside the frame are cut, so a line may come back as several polylines.
    """
    lo, hi = metres.min(axis=0), metres.max(axis=0)
    span = hi - lo
    lo, hi = lo - margin * span, hi + margin * span
    step = _nice_step(float(span.max() * (1 + 2 * margin)), max_lines)
    inv = np.linalg.inv(h)
    # In front of the camera is where w has the sign it has at the calibration points.
    front = float(np.sign(np.median((np.c_[metres, np.ones(len(metres))] @ inv.T)[:, 2])))
    t = np.linspace(0.0, 1.0, samples)
    lines: list[np.ndarray] = []
    for x in np.arange(math.ceil(lo[0] / step) * step, hi[0] + 1e-9, step):
        lines.append(np.c_[np.full(samples, x), lo[1] + t * (hi[1] - lo[1])])
    for y in np.arange(math.ceil(lo[1] / step) * step, hi[1] + 1e-9, step):
        lines.append(np.c_[lo[0] + t * (hi[0] - lo[0]), np.full(samples, y)])
    out: list[list[list[float]]] = []
    for pts in lines:
        hom = np.c_[pts, np.ones(len(pts))] @ inv.T
        w = hom[:, 2]
        with np.errstate(divide="ignore", invalid="ignore"):
            rel = hom[:, :2] / w[:, None]
        ok = (w * front > 1e-9) & np.all(np.abs(rel - 0.5) < 2.0, axis=1)  # in front, near the frame
        run: list[list[float]] = []
        for good, p in zip(np.r_[ok, False], np.r_[rel, [[0.0, 0.0]]], strict=True):
            if good:
                run.append([round(float(p[0]), 4), round(float(p[1]), 4)])
                continue
            if len(run) > 1:
                out.append(run)
            run = []
    return out, step
