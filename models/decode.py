"""Decode raw detector outputs into person boxes: vectorised numpy, person filter before NMS, OpenCV NMS.

Two output layouts are understood (`family_of` tells them apart from the output shape):
- "yolox": (B, A, 5 + nc) with A = sum over strides 8/16/32 of (H/s)*(W/s): per anchor the raw grid offsets
  (dx, dy), log sizes (log w, log h), objectness and class scores (both already sigmoid);
- "ultralytics" (YOLOv8/11 ONNX export): (B, 4 + nc, A): cx, cy, w, h in input pixels, then class scores.
"""

from __future__ import annotations

from typing import Literal

import cv2
import numpy as np

from detectors.types import PERSON_CLASS_ID

Family = Literal["yolox", "ultralytics"]
STRIDES = (8, 16, 32)
MAX_CANDIDATES = 1000  # keep the best-scoring boxes before NMS; bounds NMS cost on pathological frames


def anchor_count(input_hw: tuple[int, int], strides: tuple[int, ...] = STRIDES) -> int:
    """Number of anchor points of a stride-8/16/32 detector at this input size (3549 at 416x416)."""
    h, w = input_hw
    return sum((h // s) * (w // s) for s in strides)


def family_of(output_shape: tuple[int, ...], input_hw: tuple[int, int]) -> Family:
    """Which layout a concrete output shape (B, d1, d2) has, checked against the input size.

    Raises:
        ValueError: the shape fits neither layout.
    """
    n = anchor_count(input_hw)
    if len(output_shape) == 3:
        if output_shape[1] == n and output_shape[2] > 5:
            return "yolox"
        if output_shape[2] == n and output_shape[1] > 4:
            return "ultralytics"
    raise ValueError(
        f"unrecognised detector output shape {tuple(output_shape)} for input {input_hw}: expected YOLOX "
        f"(B, {n}, 5+classes) or ultralytics (B, 4+classes, {n})"
    )


class YoloxGrid:
    """Precomputed anchor grid of a YOLOX head: centres offsets (A, 2) and strides (A, 1), float32."""

    def __init__(self, input_hw: tuple[int, int], strides: tuple[int, ...] = STRIDES) -> None:
        h, w = input_hw
        grids, scales = [], []
        for s in strides:
            ys, xs = np.meshgrid(np.arange(h // s), np.arange(w // s), indexing="ij")
            grids.append(np.stack([xs.ravel(), ys.ravel()], axis=1))
            scales.append(np.full((grids[-1].shape[0], 1), s))
        self.grid = np.concatenate(grids).astype(np.float32)
        self.stride = np.concatenate(scales).astype(np.float32)


def _nms(xyxy: np.ndarray, scores: np.ndarray, conf: float, iou: float) -> np.ndarray:
    """Indices kept by `cv2.dnn.NMSBoxes` (boxes as x, y, w, h), best score first."""
    if len(scores) > MAX_CANDIDATES:
        top = np.argpartition(-scores, MAX_CANDIDATES)[:MAX_CANDIDATES]
        xyxy, scores = xyxy[top], scores[top]
    else:
        top = None
    xywh = xyxy.copy()
    xywh[:, 2:] -= xywh[:, :2]
    keep = np.asarray(cv2.dnn.NMSBoxes(xywh, scores, conf, iou), dtype=np.int64).reshape(-1)
    return keep if top is None else top[keep]


def decode_yolox(
    raw: np.ndarray, grid: YoloxGrid, conf: float, iou: float
) -> tuple[np.ndarray, np.ndarray]:
    """One image's YOLOX output (A, 5 + nc) -> (xyxy float32 (N, 4) in input pixels, scores (N,)), persons only.

    Sizes are exponentiated only for anchors that pass the score threshold.
    """
    scores = raw[:, 4] * raw[:, 5 + PERSON_CLASS_ID]
    idx = np.flatnonzero(scores >= conf)
    if idx.size == 0:
        return np.zeros((0, 4), np.float32), np.zeros(0, np.float32)
    stride = grid.stride[idx]
    centre = (raw[idx, :2] + grid.grid[idx]) * stride
    half = np.exp(raw[idx, 2:4]) * stride * 0.5
    xyxy = np.concatenate([centre - half, centre + half], axis=1).astype(np.float32)
    scores = scores[idx].astype(np.float32)
    keep = _nms(xyxy, scores, conf, iou)
    return xyxy[keep], scores[keep]


def decode_ultralytics(raw: np.ndarray, conf: float, iou: float) -> tuple[np.ndarray, np.ndarray]:
    """One image's ultralytics output (4 + nc, A) -> (xyxy float32 (N, 4) input pixels, scores (N,)), persons."""
    scores = raw[4 + PERSON_CLASS_ID]
    idx = np.flatnonzero(scores >= conf)
    if idx.size == 0:
        return np.zeros((0, 4), np.float32), np.zeros(0, np.float32)
    cxcy = raw[:2, idx].T
    half = raw[2:4, idx].T * 0.5
    xyxy = np.concatenate([cxcy - half, cxcy + half], axis=1).astype(np.float32)
    scores = scores[idx].astype(np.float32)
    keep = _nms(xyxy, scores, conf, iou)
    return xyxy[keep], scores[keep]
