"""Polygon zones in relative image coordinates (0..1), built once, queried for all people in one call."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from detectors.types import Detections


class ZoneError(ValueError):
    """A polygon that cannot be a zone."""


class Zone:
    """A simple polygon in relative coordinates (x right, y down, both 0..1 of the frame).

    Membership is an even-odd ray cast over all points and all edges at once (numpy broadcasting), so it
    costs one vectorised call per frame whatever the number of people.
    """

    def __init__(self, zone_id: str, polygon_rel: Sequence[Sequence[float]]) -> None:
        poly = np.asarray(polygon_rel, dtype=np.float64)
        if poly.ndim != 2 or poly.shape[1] != 2:
            raise ZoneError(f"zone {zone_id!r}: expected a list of [x, y] pairs, got shape {poly.shape}")
        if len(poly) < 3:
            raise ZoneError(f"zone {zone_id!r}: a polygon needs at least 3 points, got {len(poly)}")
        if np.any(poly < 0.0) or np.any(poly > 1.0):
            raise ZoneError(f"zone {zone_id!r}: coordinates are relative to the frame and must lie in 0..1")
        if abs(self._area(poly)) < 1e-6:
            raise ZoneError(f"zone {zone_id!r}: polygon has no area (points collinear or repeated)")
        self.id = zone_id
        self.polygon_rel = poly
        # Edges as (x1, y1) -> (x2, y2), precomputed once.
        self._x1, self._y1 = poly[:, 0], poly[:, 1]
        self._x2, self._y2 = np.roll(poly[:, 0], -1), np.roll(poly[:, 1], -1)

    @staticmethod
    def _area(poly: np.ndarray) -> float:
        x, y = poly[:, 0], poly[:, 1]
        return 0.5 * float(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1)))

    @property
    def area_rel(self) -> float:
        return abs(self._area(self.polygon_rel))

    def contains_rel(self, points_rel: np.ndarray) -> np.ndarray:
        """bool array (N,): whether each relative point (N, 2) lies inside the polygon."""
        pts = np.asarray(points_rel, dtype=np.float64).reshape(-1, 2)
        if len(pts) == 0:
            return np.zeros(0, dtype=bool)
        px, py = pts[:, 0:1], pts[:, 1:2]  # (N, 1) against edges (M,)
        crosses = (self._y1 > py) != (self._y2 > py)
        with np.errstate(divide="ignore", invalid="ignore"):
            x_at = self._x1 + (py - self._y1) * (self._x2 - self._x1) / (self._y2 - self._y1)
        hits = crosses & (px < x_at)
        return (np.count_nonzero(hits, axis=1) % 2) == 1

    def contains_px(self, points_px: np.ndarray, frame_wh: tuple[int, int]) -> np.ndarray:
        """bool array (N,): membership of pixel points (N, 2) in a frame of size (width, height)."""
        w, h = frame_wh
        return self.contains_rel(np.asarray(points_px, dtype=np.float64) / np.array([w, h], np.float64))

    def trigger(self, people: Detections, frame_wh: tuple[int, int]) -> np.ndarray:
        """bool array (N,): which people stand in the zone (their feet, the box bottom-centre, inside)."""
        return self.contains_px(people.feet, frame_wh)

    def polygon_px(self, frame_wh: tuple[int, int]) -> np.ndarray:
        """int32 array (M, 2) of the polygon in pixels, for drawing."""
        w, h = frame_wh
        return np.round(self.polygon_rel * np.array([w, h])).astype(np.int32)
