"""Interim floor fit used only until `detectors/floor.py` (branch `chatting`) is on main; then deleted.

Refuses fewer than four pairs and collinear points, fits a least-squares homography with OpenCV and
refuses maps that fold the floor over or put the horizon among the points.
"""

from __future__ import annotations

from itertools import combinations

import cv2
import numpy as np


class FloorCalibrationError(ValueError):
    """A floor calibration that cannot give a usable image-to-floor map."""


def _areas(pts: np.ndarray) -> np.ndarray:
    tri = np.array(list(combinations(range(len(pts)), 3)))
    a, b, c = pts[tri[:, 0]], pts[tri[:, 1]], pts[tri[:, 2]]
    area = 0.5 * ((b[:, 0] - a[:, 0]) * (c[:, 1] - a[:, 1]) - (b[:, 1] - a[:, 1]) * (c[:, 0] - a[:, 0]))
    return area / max(float(np.ptp(pts, axis=0).max()) ** 2, 1e-12)


def fit_homography(image_rel: np.ndarray, metres: np.ndarray) -> np.ndarray:
    img, flo = np.asarray(image_rel, np.float64), np.asarray(metres, np.float64)
    if len(img) != len(flo):
        raise FloorCalibrationError(f"image has {len(img)} points but metres has {len(flo)}")
    if len(img) < 4:
        raise FloorCalibrationError(f"need at least 4 point pairs, got {len(img)}")
    for name, pts in (("image points", img), ("floor points (metres)", flo)):
        a = np.abs(_areas(pts))
        if (len(pts) == 4 and a.min() < 1e-4) or a.max() < 1e-4:
            raise FloorCalibrationError(f"{name}: three or more points are (nearly) on one line")
    ai, af = _areas(img), _areas(flo)
    same = np.sign(ai) == np.sign(af)
    if same.any() and not same.all():
        raise FloorCalibrationError("the points are in a different order on the floor than in the image")
    h, _ = cv2.findHomography(img, flo, 0)
    if h is None:
        raise FloorCalibrationError("the points do not determine one floor map")
    w = np.c_[img, np.ones(len(img))] @ h[2]
    if np.any(np.sign(w) != np.sign(w[0])) or np.abs(w).min() < 0.1 * np.abs(w).max():
        raise FloorCalibrationError("the map explodes: the horizon runs through or next to the points")
    return h * np.sign(w[0])
