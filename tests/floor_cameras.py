"""Synthetic pinhole cameras looking down at a floor, for floor and chatting tests."""

from __future__ import annotations

import numpy as np


def camera_matrix(width: int = 640, height: int = 360, *, cam_height_m: float = 3.0, tilt_deg: float = 35.0,
                  hfov_deg: float = 70.0, cam_x_m: float = 0.0, cam_y_m: float = -4.0) -> np.ndarray:
    """3x4 projection of world (X, Y, Z up) metres to pixels for a camera at (cam_x, cam_y, cam_height)
    looking along +Y, tilted down by `tilt_deg` (image y down, X to the right)."""
    f = (width / 2) / np.tan(np.radians(hfov_deg) / 2)
    k = np.array([[f, 0, width / 2], [0, f, height / 2], [0, 0, 1.0]])
    t = np.radians(tilt_deg)
    # Camera axes in world coordinates: x right (+X), y down, z forward (+Y tilted down).
    z = np.array([0.0, np.cos(t), -np.sin(t)])
    x = np.array([1.0, 0.0, 0.0])
    y = np.cross(z, x)
    r = np.stack([x, y, z])  # world -> camera rotation (rows are camera axes)
    c = np.array([cam_x_m, cam_y_m, cam_height_m])
    tvec = -r @ c
    return k @ np.c_[r, tvec]


def floor_to_px(width: int = 640, height: int = 360, **kw: float) -> np.ndarray:
    """3x3 homography taking floor (X, Y) metres to pixels (see camera_matrix)."""
    return camera_matrix(width, height, **kw)[:, [0, 1, 3]]


def boxes_of_people(p: np.ndarray, floor_xy: np.ndarray, height_m: float = 1.7) -> np.ndarray:
    """float (N, 4) xyxy boxes of people `height_m` tall standing at floor points (N, 2), width 0.3 x height."""
    xy = np.asarray(floor_xy, float).reshape(-1, 2)
    feet = project_3d(p, np.c_[xy, np.zeros(len(xy))])
    head = project_3d(p, np.c_[xy, np.full(len(xy), height_m)])
    h = feet[:, 1] - head[:, 1]
    return np.c_[feet[:, 0] - 0.15 * h, head[:, 1], feet[:, 0] + 0.15 * h, feet[:, 1]]


def project_3d(p: np.ndarray, pts: np.ndarray) -> np.ndarray:
    hom = np.c_[pts, np.ones(len(pts))] @ p.T
    return hom[:, :2] / hom[:, 2:3]


def project(h: np.ndarray, pts: np.ndarray) -> np.ndarray:
    hom = np.c_[np.asarray(pts, float), np.ones(len(pts))] @ h.T
    return hom[:, :2] / hom[:, 2:3]
