"""Detection regions: from motion boxes and tracked boxes to a few model-sized crops, and back.

A detector call costs about its input's pixel count (yolov8n on OpenVINO here: 160x160 ~3 ms, 224x224 ~5.5,
320x320 ~10-12), whatever the crop holds, so the plan is to run it on as few and as small crops as cover
everything that moved, instead of on the whole (downscaled) frame:
  - `plan_crops` pads each box, clusters boxes whose joint crop stays within `max_scale` of the largest
    input (and costs no more than their separate crops), and turns each cluster into one crop with the
    model's aspect ratio, shifted to lie inside the frame, run at the smallest of the detector's input
    sizes that shows it downscaled at most `max_scale` (no upscaling: a small blob gets a window of that
    input's size around it); `build_regions` is the same with one input size;
  - `worth_full_frame` says when the crops would cost as much as one full-frame pass (then run that);
  - `merge_detections` maps the detections of each crop back to frame pixels (offsets only: the detector
    already returns boxes in its input image's pixels) and removes duplicates from overlapping crops by NMS
    and by containment (a half person cut at a crop's edge inside the whole person from the next crop).

All boxes are float32 (N, 4) x1, y1, x2, y2 in pixels of the frame; regions are int32 (R, 4) likewise.
"""

from __future__ import annotations

import numpy as np

from detectors.types import Detections


def pad_boxes(boxes_xyxy: np.ndarray, pad_frac: float, frame_wh: tuple[int, int]) -> np.ndarray:
    """Grow each box by `pad_frac` of its own size on every side, clipped to the frame."""
    b = np.asarray(boxes_xyxy, np.float32).reshape(-1, 4)
    wh = np.concatenate([b[:, 2:] - b[:, :2]] * 2, axis=1)
    out = b + wh * pad_frac * np.array([-1, -1, 1, 1], np.float32)
    return clip_boxes(out, frame_wh)


def clip_boxes(boxes_xyxy: np.ndarray, frame_wh: tuple[int, int]) -> np.ndarray:
    w, h = frame_wh
    return np.clip(boxes_xyxy, 0, np.array([w, h, w, h], np.float32)).astype(np.float32)


def _scale(wh: np.ndarray, crop_wh: tuple[int, int] | np.ndarray) -> np.ndarray:
    """How much a crop of the model's shape must grow to hold boxes of size wh (..., 2): >= 1. `crop_wh`
    is one (w, h) or one per box (..., 2)."""
    c = np.asarray(crop_wh, np.float32)
    return np.maximum(1.0, np.maximum(wh[..., 0] / c[..., 0], wh[..., 1] / c[..., 1]))


def _shapes(crop_wh: tuple[int, int] | list[tuple[int, int]] | np.ndarray) -> np.ndarray:
    """Input sizes (w, h) as int32 (S, 2), smallest first."""
    s = np.asarray(crop_wh, np.int32).reshape(-1, 2)
    return s[np.argsort(s[:, 0] * s[:, 1], kind="stable")]


def pick_inputs(wh: np.ndarray, shapes: np.ndarray, max_scale: float) -> np.ndarray:
    """Index into `shapes` (smallest first) of the input each box of size wh (..., 2) is run at: the
    smallest that holds it downscaled at most `max_scale`; the largest when none does."""
    scale = _scale(np.asarray(wh, np.float32)[..., None, :], shapes)  # (..., S)
    ok = scale <= max_scale + 1e-6
    return np.where(ok.any(axis=-1), np.argmax(ok, axis=-1), len(shapes) - 1)


def cluster_boxes(boxes_xyxy: np.ndarray, crop_wh: tuple[int, int] | list[tuple[int, int]] | np.ndarray,
                  max_scale: float) -> np.ndarray:
    """Greedily merge boxes whose union fits a crop of at most `max_scale` times the largest input (or no
    larger than the bigger of the two alone) and costs no more input pixels than their two crops apart
    (always so with one input size). Returns the union boxes of the clusters, float32 (C, 4).

    Each step merges the pair with the smallest joint crop; the number of boxes is small (motion blobs and
    tracks of one camera), the pair costs are computed at once with broadcasting.
    """
    shapes = _shapes(crop_wh)
    area = (shapes[:, 0] * shapes[:, 1]).astype(np.float64)
    big = shapes[-1]
    u = np.asarray(boxes_xyxy, np.float32).reshape(-1, 4).copy()
    while len(u) > 1:
        lo = np.minimum(u[:, None, :2], u[None, :, :2])
        hi = np.maximum(u[:, None, 2:], u[None, :, 2:])
        joint = _scale(hi - lo, big)
        alone = _scale(u[:, 2:] - u[:, :2], big)
        limit = np.maximum(max_scale, np.maximum(alone[:, None], alone[None, :]))
        ok = joint <= limit + 1e-6
        if len(shapes) > 1:
            cost_alone = area[pick_inputs(u[:, 2:] - u[:, :2], shapes, max_scale)]
            ok &= area[pick_inputs(hi - lo, shapes, max_scale)] <= cost_alone[:, None] + cost_alone[None, :]
        np.fill_diagonal(ok, False)
        if not ok.any():
            break
        cost = np.where(ok, joint, np.inf)
        i, j = np.unravel_index(int(np.argmin(cost)), cost.shape)
        u[i] = np.concatenate([lo[i, j], hi[i, j]])
        u = np.delete(u, j, axis=0)
    return u


def region_around(boxes_xyxy: np.ndarray, crop_wh: tuple[int, int] | np.ndarray, frame_wh: tuple[int, int]
                  ) -> np.ndarray:
    """One crop per box with the model's aspect ratio, at least the model's size, centred on the box and
    shifted to lie inside the frame (cut to the frame where it is larger). int32 (R, 4). `crop_wh`: one
    input (w, h) for all boxes, or one per box (R, 2)."""
    b = np.asarray(boxes_xyxy, np.float32).reshape(-1, 4)
    fw, fh = frame_wh
    c = np.broadcast_to(np.asarray(crop_wh, np.float32), (len(b), 2))
    s = _scale(b[:, 2:] - b[:, :2], c)
    size = c * s[:, None]
    size = np.minimum(size, np.array([fw, fh], np.float32))
    centre = (b[:, :2] + b[:, 2:]) * 0.5
    lo = np.clip(centre - size * 0.5, 0, np.array([fw, fh], np.float32) - size)
    out = np.concatenate([lo, lo + size], axis=1)
    return np.round(out).astype(np.int32)


def build_regions(boxes_xyxy: np.ndarray, frame_wh: tuple[int, int], crop_wh: tuple[int, int], *,
                  pad_frac: float = 0.15, max_scale: float = 1.5) -> np.ndarray:
    """Crops covering all boxes (motion blobs and predicted tracks), int32 (R, 4) in frame pixels.

    Args:
        boxes_xyxy: float (N, 4) boxes to cover, frame pixels.
        frame_wh: frame width and height, pixels.
        crop_wh: the crop detector's input width and height, pixels (e.g. (320, 320)).
        pad_frac: context added around each box, as a fraction of its size (people are found better with
            some background around them, and a moving person's next position is near the blob).
        max_scale: a merged crop may be up to this many times the model size (it is then downscaled).
    """
    return plan_crops(boxes_xyxy, frame_wh, [crop_wh], pad_frac=pad_frac, max_scale=max_scale)[0]


def plan_crops(boxes_xyxy: np.ndarray, frame_wh: tuple[int, int], crop_shapes: list[tuple[int, int]] | np.ndarray,
               *, pad_frac: float = 0.15, max_scale: float = 1.5) -> tuple[np.ndarray, np.ndarray]:
    """Crops covering all boxes and the detector input each runs at: (regions int32 (R, 4) frame pixels,
    inputs int32 (R, 2) (w, h), one of `crop_shapes`).

    Each cluster of boxes gets the smallest input that shows it downscaled at most `max_scale`, and a window
    of that input's aspect ratio, at least the input's size (a small blob is seen at full resolution with
    context around it, never upscaled).
    """
    if len(boxes_xyxy) == 0:
        return np.zeros((0, 4), np.int32), np.zeros((0, 2), np.int32)
    shapes = _shapes(crop_shapes)
    padded = pad_boxes(boxes_xyxy, pad_frac, frame_wh)
    clusters = cluster_boxes(padded, shapes, max_scale)
    inputs = shapes[pick_inputs(clusters[:, 2:] - clusters[:, :2], shapes, max_scale)]
    regions = region_around(clusters, inputs, frame_wh)
    keep = _kept_regions(regions)
    return regions[keep], inputs[keep]


def _kept_regions(regions: np.ndarray) -> np.ndarray:
    """Indices of the regions that are neither a duplicate of an earlier one nor inside another (shifting
    into the frame can make them)."""
    if len(regions) < 2:
        return np.arange(len(regions))
    r = regions[:, None, :]
    q = regions[None, :, :]
    inside = (r[..., 0] >= q[..., 0]) & (r[..., 1] >= q[..., 1]) & (r[..., 2] <= q[..., 2]) & (r[..., 3] <= q[..., 3])
    same = (r == q).all(axis=2)
    earlier = np.tril(np.ones_like(same), k=-1)  # [i, j]: j < i
    np.fill_diagonal(inside, False)
    drop = (inside & ~same).any(axis=1) | (same & earlier).any(axis=1)
    return np.flatnonzero(~drop)


def worth_full_frame(regions: np.ndarray, frame_wh: tuple[int, int], crop_wh: tuple[int, int],
                     full_wh: tuple[int, int], *, max_regions: int = 4, max_cover: float = 0.8,
                     inputs: np.ndarray | None = None) -> bool:
    """True when one full-frame pass is the better choice than these crops: there are more than
    `max_regions`, their model pixels add up to more than those of a full pass (at equal cost the crop
    wins: it sees what moved at a higher resolution), or together they cover more than `max_cover` of
    the frame (the full pass then sees the same at about the same resolution). `inputs` (R, 2): the input
    (w, h) of each crop; default `crop_wh` for all."""
    if len(regions) == 0:
        return False
    inputs = np.broadcast_to(np.asarray(crop_wh if inputs is None else inputs, np.float64), (len(regions), 2))
    if len(regions) > max_regions or float((inputs[:, 0] * inputs[:, 1]).sum()) > full_wh[0] * full_wh[1]:
        return True
    area = np.prod((regions[:, 2:] - regions[:, :2]).astype(np.float64), axis=1).sum()
    return bool(area > max_cover * frame_wh[0] * frame_wh[1])


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU matrix float32 (len(a), len(b)) of two xyxy box arrays."""
    inter = _intersection(a, b)
    area_a = np.prod(a[:, 2:] - a[:, :2], axis=1)
    area_b = np.prod(b[:, 2:] - b[:, :2], axis=1)
    return inter / np.maximum(area_a[:, None] + area_b[None, :] - inter, 1e-6)


def box_cover(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Share of each box of `a` inside each box of `b`: float32 (len(a), len(b)), 0..1."""
    inter = _intersection(a, b)
    area_a = np.prod(a[:, 2:] - a[:, :2], axis=1)
    return inter / np.maximum(area_a[:, None], 1e-6)


def _intersection(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a = np.asarray(a, np.float32).reshape(-1, 4)
    b = np.asarray(b, np.float32).reshape(-1, 4)
    lo = np.maximum(a[:, None, :2], b[None, :, :2])
    hi = np.minimum(a[:, None, 2:], b[None, :, 2:])
    return np.prod(np.clip(hi - lo, 0, None), axis=2)


def nms(dets: Detections, *, iou: float = 0.5, contain: float = 0.8, priority: np.ndarray | None = None) -> Detections:
    """Greedy suppression: a box goes when it overlaps a better one by more than `iou`, or when more than
    `contain` of it lies inside a better one (a cut-off part of a person found in another crop).

    "Better" is a higher `priority` (default: the confidence)."""
    n = len(dets)
    if n < 2:
        return dets
    order = np.argsort(-(dets.confidence if priority is None else priority), kind="stable")
    boxes = dets.xyxy[order]
    inside = box_cover(boxes, boxes).T  # [i, j]: share of box j inside box i
    over = (box_iou(boxes, boxes) > iou) | (inside > contain)
    keep = np.ones(n, bool)
    for i in range(n):  # loop over boxes, not pixels; n is the people found in one frame's crops
        if keep[i]:
            later = over[i].copy()
            later[: i + 1] = False
            keep &= ~later
    return dets[np.sort(order[keep])]


def cut_by_crop(xyxy: np.ndarray, region: np.ndarray, frame_wh: tuple[int, int] | None, margin_px: float = 2.0
                ) -> np.ndarray:
    """bool (N,): boxes touching an edge of their crop that is not an edge of the frame (the person may
    continue outside the crop, so the box is likely a part)."""
    x1, y1, x2, y2 = (float(v) for v in region)
    fw, fh = frame_wh if frame_wh is not None else (np.inf, np.inf)
    inner = np.array([x1 > 0, y1 > 0, x2 < fw, y2 < fh])
    near = np.stack([xyxy[:, 0] - x1 <= margin_px, xyxy[:, 1] - y1 <= margin_px,
                     x2 - xyxy[:, 2] <= margin_px, y2 - xyxy[:, 3] <= margin_px], axis=1)
    return (near & inner).any(axis=1)


def merge_detections(parts: list[Detections], regions: np.ndarray, *, frame_wh: tuple[int, int] | None = None,
                     iou: float = 0.5, contain: float = 0.8) -> Detections:
    """Detections of each crop (in crop pixels) mapped to frame pixels, joined, duplicates removed; of two
    duplicates the one not cut by its crop's edge wins, then the more confident.

    Args:
        parts: one Detections per region, boxes in that crop's pixels (as the detector returns them).
        regions: int (R, 4) the crops, frame pixels.
        frame_wh: the frame's size (crop edges on the frame's edge do not cut anyone); None: unknown.
    """
    if len(parts) != len(regions):
        raise ValueError(f"{len(parts)} detection sets for {len(regions)} regions")
    moved = [p.scaled(1.0, 1.0, float(r[0]), float(r[1])) for p, r in zip(parts, regions, strict=True)]
    merged = Detections.merge(moved)
    if len(merged) < 2:
        return merged
    cut = np.concatenate([cut_by_crop(m.xyxy, r, frame_wh) for m, r in zip(moved, regions, strict=True) if len(m)])
    return nms(merged, iou=iou, contain=contain, priority=merged.confidence - cut.astype(np.float32))
