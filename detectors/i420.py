"""Frames kept as decoded (planar YUV 4:2:0, "I420") instead of BGR, converted only where pixels are needed.

A camera's H.264 frames decode to I420: a full-size luma (Y) plane and two quarter-size chroma planes, in one
uint8 buffer of shape (H * 3 / 2, W): rows [0, H) are Y, then U and V follow as H/2 x W/2 blocks each.
Converting every analysed 720p frame to BGR costs 1.4-2.3 ms here (swscale or OpenCV), more than the motion
gate, the crops and the tracker together; the live node therefore moves I420 between processes (half the
bytes of BGR) and:
  - the motion gate reads the Y plane as its grey picture (no conversion at all),
  - the detector converts only the crops it runs on (`crop_bgr`), or the whole frame for a full pass.
Conversion is OpenCV's (BT.601, limited range, each 2x2 block sharing one chroma sample), and a crop
converted alone is bit-identical to the same window of the converted whole frame (tests/test_i420.py).
"""

from __future__ import annotations

import cv2
import numpy as np


def i420_shape(height: int, width: int) -> tuple[int, int]:
    """Buffer shape of an I420 frame of height x width pixels (both must be even)."""
    if height % 2 or width % 2 or height < 2 or width < 2:
        raise ValueError(f"I420 needs an even, non-zero frame size, got {width}x{height}")
    return height * 3 // 2, width


def picture_hw(shape: tuple[int, ...]) -> tuple[int, int]:
    """(height, width) of the picture held in an I420 buffer of this shape."""
    return shape[0] * 2 // 3, shape[1]


def frame_hw(buf: np.ndarray) -> tuple[int, int]:
    """(height, width) of the picture in an I420 buffer."""
    return picture_hw(buf.shape)


def luma(buf: np.ndarray) -> np.ndarray:
    """The Y plane, a (H, W) view: the frame in grey, as the motion gate wants it."""
    return buf[: frame_hw(buf)[0]]


def planes(buf: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Views of the Y (H, W), U and V (H/2, W/2) planes of a contiguous I420 buffer."""
    h, w = frame_hw(buf)
    flat = buf.reshape(-1)
    n, q = h * w, (h // 2) * (w // 2)
    return buf[:h], flat[n:n + q].reshape(h // 2, w // 2), flat[n + q:n + 2 * q].reshape(h // 2, w // 2)


def to_bgr(buf: np.ndarray) -> np.ndarray:
    """The whole frame as uint8 (H, W, 3) BGR."""
    return cv2.cvtColor(buf, cv2.COLOR_YUV2BGR_I420)


def crop_bgr(buf: np.ndarray, x1: int, y1: int, x2: int, y2: int) -> np.ndarray:
    """Pixels [y1:y2, x1:x2] of the frame as uint8 (y2-y1, x2-x1, 3) BGR, converting only that window
    (widened to even coordinates, so chroma samples line up, then cut back)."""
    h, w = frame_hw(buf)
    x1, y1, x2, y2 = max(0, x1), max(0, y1), min(w, x2), min(h, y2)
    if x2 <= x1 or y2 <= y1:
        return np.zeros((0, 0, 3), np.uint8)
    ex1, ey1 = x1 & ~1, y1 & ~1
    ex2, ey2 = min(w, x2 + (x2 & 1)), min(h, y2 + (y2 & 1))
    cw, ch = ex2 - ex1, ey2 - ey1
    sub = np.empty(i420_shape(ch, cw), np.uint8)
    for src, dst, k in zip(planes(buf), planes(sub), (1, 2, 2), strict=True):  # chroma: half the coordinates
        dst[:] = src[ey1 // k:ey2 // k, ex1 // k:ex2 // k]
    bgr = cv2.cvtColor(sub, cv2.COLOR_YUV2BGR_I420)
    return bgr[y1 - ey1:y2 - ey1, x1 - ex1:x2 - ex1]
