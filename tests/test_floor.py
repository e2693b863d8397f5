"""Floor geometry: homography fit, rejection of bad calibrations, the height fallback, grid lines."""

from __future__ import annotations

import copy

import numpy as np
import pytest

from detectors.config import FloorConfig
from detectors.floor import FloorCalibrationError, FloorModel, feet_hidden, fit_homography, floor_bounds_m
from detectors.types import Detections
from edge.config import ConfigError, parse_config
from tests.floor_cameras import floor_to_px, project

W, H = 640, 360
CAM = floor_to_px(W, H, cam_y_m=-2.0)
FLOOR_RECT = np.array([[-2.0, 1.0], [2.0, 1.0], [2.0, 6.0], [-2.0, 6.0]])


def calib(metres: np.ndarray = FLOOR_RECT, noise_px: float = 0.0, seed: int = 0) -> FloorConfig:
    px = project(CAM, metres) + np.random.default_rng(seed).normal(0, noise_px, (len(metres), 2))
    return FloorConfig(image=(px / [W, H]).tolist(), metres=np.asarray(metres).tolist())


def test_four_points_map_floor_exactly() -> None:
    model = FloorModel.from_config(calib(), (W, H))
    assert model.calibrated
    truth = np.random.default_rng(1).uniform([-3, 0], [3, 8], (50, 2))
    np.testing.assert_allclose(model.to_metres(project(CAM, truth)), truth, atol=1e-6)
    np.testing.assert_allclose(model.to_image_px(truth), project(CAM, truth), atol=1e-6)


def test_more_points_least_squares_with_pixel_noise() -> None:
    grid = np.array([[x, y] for x in (-2.0, 0.0, 2.0) for y in (1.0, 3.5, 6.0)])
    model = FloorModel.from_config(calib(grid, noise_px=0.5), (W, H))
    truth = np.random.default_rng(2).uniform([-2, 1], [2, 6], (50, 2))
    err = np.linalg.norm(model.to_metres(project(CAM, truth)) - truth, axis=1)
    assert err.max() < 0.1  # half-pixel noise on 9 points: centimetres on the floor


def test_feet_of_detections() -> None:
    model = FloorModel.from_config(calib(), (W, H))
    feet = project(CAM, np.array([[0.0, 2.0], [1.0, 4.0]]))
    xyxy = np.c_[feet[:, 0] - 10, feet[:, 1] - 80, feet[:, 0] + 10, feet[:, 1]]
    people = Detections(xyxy, np.ones(2), np.zeros(2))
    np.testing.assert_allclose(model.locate(people), [[0.0, 2.0], [1.0, 4.0]], atol=1e-3)


def test_mirrored_floor_axes_are_accepted() -> None:
    """Image y runs down; a floor whose Y runs the other way is a mirror, not a fold."""
    m = FLOOR_RECT * [1.0, -1.0]
    cfg = FloorConfig(image=(project(CAM, FLOOR_RECT) / [W, H]).tolist(), metres=m.tolist())
    model = FloorModel.from_config(cfg, (W, H))
    np.testing.assert_allclose(model.to_metres(project(CAM, [[1.0, 2.0]])), [[1.0, -2.0]], atol=1e-6)


def test_points_beyond_the_horizon_are_nan() -> None:
    cam = floor_to_px(W, H, tilt_deg=10.0, cam_y_m=-8.0)  # nearly level: the horizon is in the picture
    cfg = FloorConfig(image=(project(cam, FLOOR_RECT) / [W, H]).tolist(), metres=FLOOR_RECT.tolist())
    model = FloorModel.from_config(cfg, (W, H))
    horizon_y = H / 2 - (W / 2) / np.tan(np.radians(35.0)) * np.tan(np.radians(10.0))
    out = model.to_metres(np.array([[W / 2, horizon_y - 5], [W / 2, horizon_y + 1], [W / 2, H - 1.0]]))
    assert np.isnan(out[:2]).all() and np.isfinite(out[2]).all()  # sky, far beyond the floor, near floor


SQUARE_IMG = [[0.2, 0.9], [0.8, 0.9], [0.7, 0.5], [0.3, 0.5]]
SQUARE_M = [[0, 0], [4, 0], [4, 6], [0, 6]]
BAD = [
    ("fewer than four", SQUARE_IMG[:3], SQUARE_M[:3], "at least 4"),
    ("counts differ", SQUARE_IMG, SQUARE_M + [[1, 1]], "needs its floor position"),
    ("collinear image", [[0.1, 0.9], [0.5, 0.9], [0.9, 0.9], [0.3, 0.5]], SQUARE_M, "image points: three"),
    ("collinear floor", SQUARE_IMG, [[0, 0], [2, 0], [4, 0], [0, 6]], "floor points (metres): three"),
    ("all on a line (5)", [[0.1 * i + 0.1, 0.5] for i in range(5)], [[i, 0] for i in range(4)] + [[0, 1]],
     "image points"),
    ("order swapped (folds)", SQUARE_IMG, [[0, 0], [4, 0], [0, 6], [4, 6]], "flip the floor over"),
    ("horizon at the far points", [[0.1, 0.9], [0.9, 0.9], [0.505, 0.45], [0.495, 0.45]], SQUARE_M, "explodes"),
    ("a point off the plane", SQUARE_IMG + [[0.5, 0.7]], SQUARE_M + [[2.0, 1.4]], "do not fit one floor plane"),
]


@pytest.mark.parametrize("name,image,metres,message", BAD, ids=[b[0] for b in BAD])
def test_bad_calibrations_are_rejected(name: str, image: list, metres: list, message: str) -> None:
    with pytest.raises(FloorCalibrationError, match=message.replace("(", r"\(").replace(")", r"\)")):
        fit_homography(image, metres)


def test_bad_calibration_fails_config_load_naming_the_key() -> None:
    base = {"site": "s", "node": "n", "cameras": [
        {"id": "hall", "source": "a.mp4"},
        {"id": "cam2", "source": "b.mp4", "floor": {"image": SQUARE_IMG, "metres": SQUARE_M}}]}
    assert parse_config(base).cameras[1].floor is not None
    bad = copy.deepcopy(base)
    bad["cameras"][1]["floor"]["metres"] = [[0, 0], [4, 0], [0, 6], [4, 6]]
    with pytest.raises(ConfigError, match=r"hall\.yaml: cameras\[1\]\.floor: bad floor calibration: .*order"):
        parse_config(bad, "hall.yaml")


FALLBACK = [
    # (feet x px, box height px, expected X m, expected Z m) for a 640 px wide, 60 degree view
    (320.0, 170.0, 0.0, 1.7 * 320 / np.tan(np.radians(30)) / 170),
    (490.0, 170.0, 1.7, 1.7 * 320 / np.tan(np.radians(30)) / 170),  # 170 px right = one body height
    (320.0, 85.0, 0.0, 2 * 1.7 * 320 / np.tan(np.radians(30)) / 170),  # half the height: twice as far
]


@pytest.mark.parametrize("x_px,h_px,x_m,z_m", FALLBACK)
def test_height_fallback(x_px: float, h_px: float, x_m: float, z_m: float) -> None:
    model = FloorModel.from_config(None, (W, H))
    assert not model.calibrated
    out = model.to_metres(np.array([[x_px, 300.0]]), np.array([h_px]))
    np.testing.assert_allclose(out, [[x_m, z_m]], rtol=1e-6, atol=1e-9)


def test_fallback_needs_heights_and_skips_empty_boxes() -> None:
    model = FloorModel.fallback((W, H))
    with pytest.raises(ValueError, match="heights_px"):
        model.to_metres(np.array([[1.0, 2.0]]))
    assert np.isnan(model.to_metres(np.array([[1.0, 2.0]]), np.array([0.0]))).all()
    with pytest.raises(ValueError, match="hfov_deg"):
        FloorModel.fallback((W, H), hfov_deg=200)


def test_grid_lines_lie_on_floor_lines() -> None:
    cfg = calib()
    model = FloorModel.from_config(cfg, (W, H))
    bounds = floor_bounds_m(cfg)
    lines = model.grid_lines_px(bounds, step_m=1.0)
    assert lines.shape == (5 + 6, 2, 2)  # X = -2..2 and Y = 1..6
    ends_m = model.to_metres(lines.reshape(-1, 2)).reshape(-1, 2, 2)
    whole = np.isclose(ends_m, np.round(ends_m), atol=1e-6)
    on_x = np.isclose(ends_m[:, 0, 0], ends_m[:, 1, 0]) & whole[:, 0, 0]
    on_y = np.isclose(ends_m[:, 0, 1], ends_m[:, 1, 1]) & whole[:, 0, 1]
    assert np.all(on_x | on_y)
    assert FloorModel.fallback((W, H)).grid_lines_px(bounds).shape == (0, 2, 2)
    with pytest.raises(ValueError, match="larger step_m"):
        model.grid_lines_px((0, 0, 1000, 1000), step_m=1.0)


HIDDEN = [
    ("apart", [[0, 0, 10, 100], [20, 0, 30, 100]], [False, False]),
    ("in front covers the feet", [[0, 0, 40, 60], [10, 20, 30, 100]], [True, False]),
    ("side by side, same ground line", [[0, 0, 40, 100], [20, 0, 60, 102]], [False, False]),
    ("feet beside the nearer box", [[0, 0, 40, 100], [45, 0, 80, 60]], [False, False]),
    ("farther, feet inside the nearer box", [[0, 0, 40, 100], [10, 0, 30, 50]], [False, True]),
]


@pytest.mark.parametrize("name,boxes,expected", HIDDEN, ids=[h[0] for h in HIDDEN])
def test_feet_hidden(name: str, boxes: list, expected: list[bool]) -> None:
    assert feet_hidden(np.array(boxes, float)).tolist() == expected
