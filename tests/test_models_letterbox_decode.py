"""Letterbox geometry and box mapping, output decoding and NMS: tables over small synthetic arrays."""

from __future__ import annotations

import numpy as np
import pytest

from models.decode import (
    YoloxGrid,
    anchor_count,
    decode_ultralytics,
    decode_yolox,
    family_of,
)
from models.letterbox import PAD_VALUE, Letterbox

# (source h, w), (input h, w), centred, expected (scale, pad_x, pad_y)
GEOMETRY = [
    ((270, 480), (416, 416), False, (416 / 480, 0, 0)),
    ((720, 1280), (384, 640), True, (0.5, 0, 12)),
    ((480, 640), (384, 640), True, (0.8, 64, 0)),
    ((1080, 1920), (384, 640), True, (1 / 3, 0, 12)),
    ((320, 320), (320, 320), True, (1.0, 0, 0)),
    ((100, 50), (320, 320), False, (3.2, 0, 0)),
]


@pytest.mark.parametrize(("src_hw", "in_hw", "centred", "expected"), GEOMETRY)
def test_letterbox_geometry_and_round_trip(src_hw, in_hw, centred, expected) -> None:
    h, w = src_hw
    image = np.zeros((h, w, 3), np.uint8)
    # a white block at a known place: it must land where `to_input` says
    x1, y1, x2, y2 = w // 4, h // 4, w // 2, h // 2
    image[y1:y2, x1:x2] = 255
    lb = Letterbox(in_hw, centred=centred, rgb=False, unit_scale=False)
    blob, m = lb(image)
    scale, pad_x, pad_y = expected
    assert blob.shape == (1, 3, *in_hw) and blob.dtype == np.float32
    assert m.sx == pytest.approx(scale, rel=0.01) and m.sy == pytest.approx(scale, rel=0.01)
    assert (m.pad_x, m.pad_y) == (pad_x, pad_y)

    box = np.array([[x1, y1, x2, y2]], np.float32)
    mapped = m.to_input(box)[0]
    bright = np.argwhere(blob[0, 0] > 127)
    assert bright[:, 1].min() == pytest.approx(mapped[0], abs=1.5)
    assert bright[:, 0].min() == pytest.approx(mapped[1], abs=1.5)
    assert bright[:, 1].max() + 1 == pytest.approx(mapped[2], abs=1.5)
    assert bright[:, 0].max() + 1 == pytest.approx(mapped[3], abs=1.5)
    np.testing.assert_allclose(m.to_source(m.to_input(box)), box, atol=1e-3)
    if pad_x or pad_y:  # the padding is grey 114 (top-left corner when centred, bottom-right otherwise)
        corner = blob[0, :, 0, 0] if centred else blob[0, :, -1, -1]
        assert (corner == PAD_VALUE).all()


def test_letterbox_colour_order_scale_and_clipping() -> None:
    image = np.zeros((64, 64, 3), np.uint8)
    image[..., 0], image[..., 2] = 10, 250  # B, R
    blob, m = Letterbox((64, 64), centred=True, rgb=True, unit_scale=True)(image)
    assert blob[0, 0, 5, 5] == pytest.approx(250 / 255) and blob[0, 2, 5, 5] == pytest.approx(10 / 255)
    out_of_frame = np.array([[-20, -5, 80, 70]], np.float32)
    np.testing.assert_array_equal(m.to_source(out_of_frame), [[0, 0, 64, 64]])


def test_letterbox_batch_and_bad_input() -> None:
    lb = Letterbox((32, 32), centred=True, rgb=True, unit_scale=True)
    a, b = np.full((32, 64, 3), 255, np.uint8), np.zeros((64, 32, 3), np.uint8)
    blob, maps = lb.batch([a, b])
    assert blob.shape == (2, 3, 32, 32) and [(mp.pad_x, mp.pad_y) for mp in maps] == [(0, 8), (8, 0)]
    assert blob[0, :, 16, 16].tolist() == [1, 1, 1] and blob[1, :, 16, 16].tolist() == [0, 0, 0]
    with pytest.raises(ValueError, match="BGR uint8"):
        lb(np.zeros((10, 10), np.uint8))
    with pytest.raises(ValueError, match="positive"):
        Letterbox((0, 32), centred=True, rgb=True, unit_scale=True)


@pytest.mark.parametrize(
    ("shape", "hw", "family"),
    [
        ((1, 3549, 85), (416, 416), "yolox"),
        ((4, 2100, 85), (320, 320), "yolox"),
        ((1, 84, 5040), (384, 640), "ultralytics"),
        ((2, 5, 2100), (320, 320), "ultralytics"),  # a one-class export
    ],
)
def test_family_of(shape, hw, family) -> None:
    assert anchor_count(hw) == (shape[1] if family == "yolox" else shape[2])
    assert family_of(shape, hw) == family


@pytest.mark.parametrize("shape", [(1, 3549, 85), (1, 1000, 85), (3549, 85), (1, 84, 5041)])
def test_family_of_rejects_unknown_shapes(shape) -> None:
    with pytest.raises(ValueError, match="unrecognised detector output shape"):
        family_of(shape, (384, 640))


def _yolox_raw(hw: tuple[int, int], cells: list[tuple[int, float, float, float, float]]) -> np.ndarray:
    """YOLOX output (A, 85) with chosen anchors set: (anchor, objectness, person, other class, log-size)."""
    raw = np.zeros((anchor_count(hw), 85), np.float32)
    for anchor, obj, person, other, log_wh in cells:
        raw[anchor, 2:4] = log_wh
        raw[anchor, 4], raw[anchor, 5], raw[anchor, 6] = obj, person, other
    return raw


def test_decode_yolox_box_persons_only_and_nms() -> None:
    hw = (416, 416)
    grid = YoloxGrid(hw)
    n8 = (416 // 8) ** 2
    a = 3 * 52 + 10  # stride 8, cell (x=10, y=3): centre (80 + dx*8, 24 + dy*8)
    b = a + 1  # the neighbouring cell: same-size box 8 px to the right -> suppressed by NMS
    c = n8 + 5  # stride 16, cell (5, 0): a car (class 1), not a person
    raw = _yolox_raw(hw, [(a, 0.9, 0.9, 0.0, np.log(4)), (b, 0.8, 0.9, 0.0, np.log(4)), (c, 0.9, 0.0, 0.95, 0.0)])
    raw[a, :2] = 0.5  # offsets within the cell
    xyxy, scores = decode_yolox(raw, grid, conf=0.3, iou=0.45)
    # centre (10.5*8, 3.5*8) = (84, 28); size exp(log 4) * 8 = 32
    np.testing.assert_allclose(xyxy, [[68, 12, 100, 44]], atol=1e-4)
    np.testing.assert_allclose(scores, [0.81], atol=1e-6)
    assert decode_yolox(raw, grid, conf=0.85, iou=0.45)[0].shape == (0, 4)


def test_decode_ultralytics_box_and_threshold() -> None:
    hw = (384, 640)
    raw = np.zeros((84, anchor_count(hw)), np.float32)
    raw[:4, 7] = [100, 50, 40, 80]  # cx, cy, w, h
    raw[4, 7] = 0.7  # person
    raw[:4, 9] = [300, 200, 20, 20]
    raw[5, 9] = 0.99  # bicycle only
    raw[:4, 11] = [104, 52, 40, 80]
    raw[4, 11] = 0.6  # near-duplicate person, lower score
    xyxy, scores = decode_ultralytics(raw, conf=0.25, iou=0.5)
    np.testing.assert_allclose(xyxy, [[80, 10, 120, 90]])
    np.testing.assert_allclose(scores, [0.7])
    xyxy, _ = decode_ultralytics(raw, conf=0.25, iou=0.95)  # a loose NMS keeps both people
    assert len(xyxy) == 2
