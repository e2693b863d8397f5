"""Floor geometry: where people stand, in metres on the floor.

A calibrated camera carries four or more image points (relative 0..1) with their floor coordinates in
metres; a plane homography fitted to them (normalised DLT, least squares for more than four points) maps
each person's feet (box bottom-centre) to the floor.

Without a calibration, `FloorModel.fallback` estimates positions from each person's box height with a
pinhole model: a standing adult is taken as `person_height_m` (1.7 m) tall and the lens as having a
`hfov_deg` (60 degree) horizontal field of view. How rough that is:
- across the image (left-right) distances between two people at the same depth scale with the assumed
  height only: adults are 1.5-1.9 m, so about +-12 %;
- in depth (towards the camera) distances also scale with the guessed focal length: a 90 degree lens
  read as 60 degrees gives depths 1.7x too large, so depth gaps are good to a factor of about 2;
- a box cut by the frame edge or hidden behind someone else is too short, and the person seems farther
  away than they are (a half-visible person is placed at about twice the true depth); seated people
  likewise. Calibrate any camera whose chatting alerts matter.

The homography maps are linear in homogeneous coordinates, so a whole frame of people costs one small
matrix product.
"""

from __future__ import annotations

import math
from itertools import combinations
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from detectors.config import FloorConfig
    from detectors.types import Detections

# Fit quality limits: beyond these the calibration is rejected at load time.
MAX_RESIDUAL_M = 0.25  # a point may sit at most this far (or 5 % of the floor span) from the fitted map
MIN_W_RATIO = 0.1  # projective depth across the points may vary at most 10x (horizon far from them)
MIN_TRIANGLE_AREA = 1e-4  # triangles of points thinner than this (relative to the spread) are "collinear"


class FloorCalibrationError(ValueError):
    """A floor calibration that cannot give a usable image-to-floor map."""


def _normaliser(pts: np.ndarray) -> np.ndarray:
    """3x3 similarity moving `pts` (N, 2) to mean 0, mean distance sqrt(2) (Hartley normalisation)."""
    c = pts.mean(axis=0)
    d = float(np.mean(np.linalg.norm(pts - c, axis=1)))
    s = math.sqrt(2.0) / d if d > 0 else 1.0
    return np.array([[s, 0, -s * c[0]], [0, s, -s * c[1]], [0, 0, 1.0]])


def _apply(h: np.ndarray, pts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Map (N, 2) points by homography `h`; returns (mapped (N, 2), homogeneous w (N,))."""
    hom = np.c_[pts, np.ones(len(pts))] @ h.T
    w = hom[:, 2]
    with np.errstate(divide="ignore", invalid="ignore"):
        return hom[:, :2] / w[:, None], w


def _triangle_areas(pts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Signed areas of every triangle of points (N, 2), relative to the squared spread; and the triples."""
    tri = np.array(list(combinations(range(len(pts)), 3)), dtype=np.int64)
    a, b, c = pts[tri[:, 0]], pts[tri[:, 1]], pts[tri[:, 2]]
    area = 0.5 * ((b[:, 0] - a[:, 0]) * (c[:, 1] - a[:, 1]) - (b[:, 1] - a[:, 1]) * (c[:, 0] - a[:, 0]))
    spread = float(np.ptp(pts, axis=0).max()) ** 2
    return area / max(spread, 1e-12), tri


def _check_points(name: str, pts: np.ndarray) -> np.ndarray:
    """Reject collinear point sets; returns the relative signed triangle areas."""
    area, _ = _triangle_areas(pts)
    if len(pts) == 4 and np.any(np.abs(area) < MIN_TRIANGLE_AREA):
        raise FloorCalibrationError(f"{name}: three of the four points are (nearly) on one line; "
                                    "pick four points spread over the floor, no three in a row")
    if np.all(np.abs(area) < MIN_TRIANGLE_AREA):
        raise FloorCalibrationError(f"{name}: all points are (nearly) on one line")
    return area


def fit_homography(image_rel: np.ndarray | list, metres: np.ndarray | list) -> np.ndarray:
    """Fit and check the map from relative image points (N, 2) to floor metres (N, 2), N >= 4.

    Returns the 3x3 homography H (float64) with [X, Y, 1] ~ H @ [x_rel, y_rel, 1].
    Raises FloorCalibrationError when there are fewer than four pairs, the points are collinear, the
    map folds the floor over (point order differs between image and floor), the fit misses the points,
    or the horizon line runs through or close to the calibrated area (the map explodes there).
    """
    img = np.asarray(image_rel, dtype=np.float64)
    flo = np.asarray(metres, dtype=np.float64)
    if img.ndim != 2 or img.shape[1] != 2 or flo.ndim != 2 or flo.shape[1] != 2:
        raise FloorCalibrationError("expected lists of [x, y] pairs for image and metres")
    if len(img) != len(flo):
        raise FloorCalibrationError(f"image has {len(img)} points but metres has {len(flo)}; "
                                    "each image point needs its floor position")
    if len(img) < 4:
        raise FloorCalibrationError(f"need at least 4 point pairs, got {len(img)}")
    if not (np.all(np.isfinite(img)) and np.all(np.isfinite(flo))):
        raise FloorCalibrationError("points must be finite numbers")
    a_img = _check_points("image points", img)
    a_flo = _check_points("floor points (metres)", flo)
    # A homography with the horizon away from the points keeps every triangle's orientation (or mirrors
    # them all, e.g. image y down against floor Y up); mixed signs mean the floor is folded over.
    big = (np.abs(a_img) >= MIN_TRIANGLE_AREA) & (np.abs(a_flo) >= MIN_TRIANGLE_AREA)
    same = np.sign(a_img[big]) == np.sign(a_flo[big])
    if same.any() and not same.all():
        raise FloorCalibrationError("the points are in a different order on the floor than in the image "
                                    "(the map would flip the floor over); list them in the same order")
    h = _dlt(img, flo)
    mapped, w = _apply(h, img)
    if np.any(np.sign(w) != np.sign(w[0])) or np.abs(w).min() < MIN_W_RATIO * np.abs(w).max():
        raise FloorCalibrationError("the map explodes: the horizon runs through or next to the calibrated "
                                    "points; use points on the floor only, nearer the camera")
    err = float(np.linalg.norm(mapped - flo, axis=1).max())
    tol = max(MAX_RESIDUAL_M, 0.05 * float(np.ptp(flo, axis=0).max()))
    if not np.isfinite(err) or err > tol:
        raise FloorCalibrationError(f"the points do not fit one floor plane: a point lands {err:.2f} m from "
                                    f"where it was measured (allowed {tol:.2f} m); check the measurements")
    return h / float(w.mean())  # scaled so that w is about +1 on the calibrated floor


def _dlt(img: np.ndarray, flo: np.ndarray) -> np.ndarray:
    """Normalised direct linear transform; least squares over all pairs."""
    t_img, t_flo = _normaliser(img), _normaliser(flo)
    p = np.c_[img, np.ones(len(img))] @ t_img.T
    q = np.c_[flo, np.ones(len(flo))] @ t_flo.T
    x, y, u, v = p[:, 0], p[:, 1], q[:, 0], q[:, 1]
    z, o = np.zeros_like(x), np.ones_like(x)
    rows_u = np.stack([-x, -y, -o, z, z, z, u * x, u * y, u], axis=1)
    rows_v = np.stack([z, z, z, -x, -y, -o, v * x, v * y, v], axis=1)
    _, s, vt = np.linalg.svd(np.vstack([rows_u, rows_v]))
    if s[-2] < 1e-9 * s[0]:
        raise FloorCalibrationError("the points do not determine one floor map (degenerate layout)")
    h = np.linalg.inv(t_flo) @ vt[-1].reshape(3, 3) @ t_img
    return h / np.linalg.norm(h)


class FloorModel:
    """Maps pixel points of one camera's analysed frames to floor metres.

    Build with `from_config` (calibrated when the camera has a `floor` block, the height fallback when it
    has none); then call `locate(people)` or `to_metres(points_px, heights_px)` once per frame.
    Points that cannot be placed come back as NaN: with a calibration, points at or beyond the horizon
    (more than 4x the projective depth of the farthest calibration point); in the fallback, boxes with
    no height.
    """

    def __init__(self, frame_wh: tuple[int, int], homography_rel: np.ndarray | None = None, *,
                 person_height_m: float = 1.7, hfov_deg: float = 60.0) -> None:
        w, h = int(frame_wh[0]), int(frame_wh[1])
        if w <= 0 or h <= 0:
            raise ValueError(f"frame size must be positive, got {frame_wh}")
        if not 0.5 <= person_height_m <= 2.5:
            raise ValueError(f"person_height_m must be 0.5..2.5 m, got {person_height_m}")
        if not 10.0 <= hfov_deg <= 170.0:
            raise ValueError(f"hfov_deg must be 10..170 degrees, got {hfov_deg}")
        self.frame_wh = (w, h)
        self.person_height_m = float(person_height_m)
        self.hfov_deg = float(hfov_deg)
        self.focal_px = (w / 2.0) / math.tan(math.radians(hfov_deg) / 2.0)
        self._h: np.ndarray | None = None
        if homography_rel is not None:
            # Fold the pixel-to-relative scaling into the map once: H_px = H_rel @ diag(1/w, 1/h, 1).
            self._h = np.asarray(homography_rel, np.float64) @ np.diag([1.0 / w, 1.0 / h, 1.0])
            self._h_inv = np.linalg.inv(self._h)
        self._w_min = 0.0

    @classmethod
    def from_config(cls, cfg: FloorConfig | None, frame_wh: tuple[int, int], **fallback: float) -> FloorModel:
        """A calibrated model from a camera's `floor` block, or the height fallback when it is None."""
        if cfg is None:
            return cls(frame_wh, None, **fallback)
        h = fit_homography(cfg.image, cfg.metres)
        model = cls(frame_wh, h, **fallback)
        _, w = _apply(h, np.asarray(cfg.image, np.float64))
        model._w_min = 0.25 * float(w.min())
        return model

    @classmethod
    def fallback(cls, frame_wh: tuple[int, int], *, person_height_m: float = 1.7,
                 hfov_deg: float = 60.0) -> FloorModel:
        return cls(frame_wh, None, person_height_m=person_height_m, hfov_deg=hfov_deg)

    @property
    def calibrated(self) -> bool:
        return self._h is not None

    def to_metres(self, points_px: np.ndarray, heights_px: np.ndarray | None = None) -> np.ndarray:
        """float64 array (N, 2) of floor positions in metres for pixel points (N, 2).

        `heights_px` (N,) are the people's box heights; the fallback needs them, a calibration ignores them.
        """
        pts = np.asarray(points_px, np.float64).reshape(-1, 2)
        if self._h is not None:
            out, w = _apply(self._h, pts)
            out[~(w > self._w_min)] = np.nan
            return out
        if heights_px is None:
            raise ValueError("an uncalibrated floor needs the people's box heights (heights_px)")
        hp = np.asarray(heights_px, np.float64).reshape(len(pts))
        with np.errstate(divide="ignore", invalid="ignore"):
            m_per_px = np.where(hp > 0, self.person_height_m / hp, np.nan)
        x = (pts[:, 0] - self.frame_wh[0] / 2.0) * m_per_px  # across the view
        z = self.focal_px * m_per_px  # distance from the camera along the view
        return np.stack([x, z], axis=1)

    def locate(self, people: Detections) -> np.ndarray:
        """float64 array (N, 2): each person's feet (box bottom-centre) on the floor, metres."""
        return self.to_metres(people.feet, people.height_px)

    def to_image_px(self, points_m: np.ndarray) -> np.ndarray:
        """float64 array (N, 2): floor points (N, 2) in metres back to pixels (calibrated models only)."""
        if self._h is None:
            raise ValueError("an uncalibrated floor cannot map metres back to the image")
        out, _ = _apply(self._h_inv, np.asarray(points_m, np.float64).reshape(-1, 2))
        return out

    def grid_lines_px(self, bounds_m: tuple[float, float, float, float], step_m: float = 1.0) -> np.ndarray:
        """float64 array (L, 2, 2): floor grid lines every `step_m` within bounds (x0, y0, x1, y1), metres,
        as pixel segments [[x1, y1], [x2, y2]] for drawing. Lines that reach the horizon are left out;
        an uncalibrated floor has no grid (L = 0)."""
        if step_m <= 0:
            raise ValueError(f"step_m must be positive, got {step_m}")
        x0, y0, x1, y1 = bounds_m
        xs = np.arange(math.ceil(x0 / step_m), math.floor(x1 / step_m) + 1) * step_m
        ys = np.arange(math.ceil(y0 / step_m), math.floor(y1 / step_m) + 1) * step_m
        if len(xs) + len(ys) > 400:
            raise ValueError(f"{len(xs) + len(ys)} grid lines: use a larger step_m")
        if self._h is None:
            return np.zeros((0, 2, 2))
        ends = np.concatenate([
            np.stack([np.c_[xs, np.full_like(xs, y0)], np.c_[xs, np.full_like(xs, y1)]], axis=1),
            np.stack([np.c_[np.full_like(ys, x0), ys], np.c_[np.full_like(ys, x1), ys]], axis=1),
        ]).reshape(-1, 2, 2)
        px = self.to_image_px(ends.reshape(-1, 2))
        _, w = _apply(self._h, px)
        ok = (w > self._w_min) & np.all(np.isfinite(px), axis=1)
        ok = ok.reshape(-1, 2).all(axis=1)
        return px.reshape(-1, 2, 2)[ok]


def floor_bounds_m(cfg: FloorConfig, margin_m: float = 0.0) -> tuple[float, float, float, float]:
    """(x0, y0, x1, y1): the box around a calibration's floor points, grown by `margin_m` metres."""
    m = np.asarray(cfg.metres, np.float64)
    lo, hi = m.min(axis=0) - margin_m, m.max(axis=0) + margin_m
    return float(lo[0]), float(lo[1]), float(hi[0]), float(hi[1])


def feet_hidden(xyxy: np.ndarray, margin_px: float = 4.0) -> np.ndarray:
    """bool array (N,): whose feet (box bottom-centre) are covered by another person's box reaching at
    least `margin_px` lower in the image, i.e. someone nearer the camera stands in front of their feet.

    Such a box is cut short by the occlusion, so its bottom is not where the person stands. One (N, N)
    broadcast, no loop over pairs. `xyxy` is (N, 4) pixels.
    """
    b = np.asarray(xyxy, np.float64).reshape(-1, 4)
    fx, fy = (b[:, 0] + b[:, 2]) * 0.5, b[:, 3]
    covers = ((b[None, :, 0] <= fx[:, None]) & (fx[:, None] <= b[None, :, 2])
              & (b[None, :, 1] <= fy[:, None]) & (b[None, :, 3] >= fy[:, None] + margin_px))
    np.fill_diagonal(covers, False)
    return covers.any(axis=1)
