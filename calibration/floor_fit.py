"""Floor-scale fitting for the editor: check a floor calibration and give the metre grid to draw over it.

The fit and its checks (too few points, collinear points, a map that folds or explodes, points off one
plane) are `detectors.floor`'s; this module only asks it for a model in relative image coordinates and
picks a grid spacing that suits the floor's size, for the page and the preview.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from detectors.config import FloorConfig
from detectors.floor import FloorCalibrationError, FloorModel, floor_bounds_m

__all__ = ["FloorCalibrationError", "FloorCheck", "check_floor"]

REL_FRAME = (1, 1)  # a 1x1 "frame": the model's pixels are then relative 0..1 coordinates


@dataclass(frozen=True)
class FloorCheck:
    """A usable floor calibration.

    Attributes:
        residual_m: largest distance between a measured floor point and where the map puts it, metres.
        grid_rel: grid line segments [[x1, y1], [x2, y2]] in relative image coordinates (may reach past
            the frame edges; lines that run into the horizon are left out).
        step_m: grid spacing, metres.
    """

    residual_m: float
    grid_rel: list[list[list[float]]]
    step_m: float


def _nice_step(span_m: float, max_lines: int) -> float:
    """1, 2 or 5 x 10^k metres so that `span_m` holds at most `max_lines` lines (at least 0.5 m)."""
    raw = max(span_m / max_lines, 0.5)
    k = 10.0 ** math.floor(math.log10(raw))
    return next(m * k for m in (1.0, 2.0, 5.0, 10.0) if m * k >= raw)


def check_floor(floor: FloorConfig, *, margin: float = 0.15, max_lines: int = 16) -> FloorCheck:
    """Fit `floor`; raises FloorCalibrationError with the reason when it is not usable.

    The grid covers the calibration points' floor extent plus `margin` of it on each side.
    """
    model = FloorModel.from_config(floor, REL_FRAME)
    flo = np.asarray(floor.metres, np.float64)
    residual = float(np.nanmax(np.linalg.norm(model.to_metres(np.asarray(floor.image)) - flo, axis=1)))
    span = float(np.ptp(flo, axis=0).max())
    step = _nice_step(span * (1 + 2 * margin), max_lines)
    segments = model.grid_lines_px(floor_bounds_m(floor, margin_m=margin * span), step)
    return FloorCheck(residual, np.round(segments, 4).tolist(), step)
