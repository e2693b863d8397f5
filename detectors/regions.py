"""Detection regions: from motion boxes and tracked boxes to a few model-sized crops, and back.

The detector costs the same per call whatever the crop holds, so the plan is to run it on as few crops of
about the model's input size as cover everything that moved, instead of on the whole (downscaled) frame:
  - `build_regions` pads each box, clusters boxes whose joint crop stays close to the model size, and turns
    each cluster into one crop with the model's aspect ratio, shifted to lie inside the frame;
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


def _scale(wh: np.ndarray, crop_wh: tuple[int, int]) -> np.ndarray:
    """How much a crop of the model's shape must grow to hold boxes of size wh (..., 2): >= 1."""
    return np.maximum(1.0, np.maximum(wh[..., 0] / crop_wh[0], wh[..., 1] / crop_wh[1]))


def cluster_boxes(boxes_xyxy: np.ndarray, crop_wh: tuple[int, int], max_scale: float) -> np.ndarray:
    """Greedily merge boxes whose union fits a crop of at most `max_scale` times the model size (or no
    larger than the bigger of the two alone). Returns the union boxes of the clusters, float32 (C, 4).

    Each step merges the pair with the smallest joint crop; the number of boxes is small (motion blobs and
    tracks of one camera), the pair costs are computed at once with broadcasting.
    """
    u = np.asarray(boxes_xyxy, np.float32).reshape(-1, 4).copy()
    while len(u) > 1:
        lo = np.minimum(u[:, None, :2], u[None, :, :2])
        hi = np.maximum(u[:, None, 2:], u[None, :, 2:])
        joint = _scale(hi - lo, crop_wh)
        alone = _scale(u[:, 2:] - u[:, :2], crop_wh)
        limit = np.maximum(max_scale, np.maximum(alone[:, None], alone[None, :]))
        ok = joint <= limit + 1e-6
        np.fill_diagonal(ok, False)
        if not ok.any():
            break
        cost = np.where(ok, joint, np.inf)
        i, j = np.unravel_index(int(np.argmin(cost)), cost.shape)
        u[i] = np.concatenate([lo[i, j], hi[i, j]])
        u = np.delete(u, j, axis=0)
    return u


def region_around(boxes_xyxy: np.ndarray, crop_wh: tuple[int, int], frame_wh: tuple[int, int]) -> np.ndarray:
    """One crop per box with the model's aspect ratio, at least the model's size, centred on the box and
    shifted to lie inside the frame (cut to the frame where it is larger). int32 (R, 4)."""
    b = np.asarray(boxes_xyxy, np.float32).reshape(-1, 4)
    fw, fh = frame_wh
    s = _scale(b[:, 2:] - b[:, :2], crop_wh)
    size = np.stack([crop_wh[0] * s, crop_wh[1] * s], axis=1)
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
    if len(boxes_xyxy) == 0:
        return np.zeros((0, 4), np.int32)
    padded = pad_boxes(boxes_xyxy, pad_frac, frame_wh)
    clusters = cluster_boxes(padded, crop_wh, max_scale)
    regions = region_around(clusters, crop_wh, frame_wh)
    return _drop_contained(regions)


def _drop_contained(regions: np.ndarray) -> np.ndarray:
    """Remove duplicate regions and regions lying inside another (shifting into the frame can make them)."""
    if len(regions) < 2:
        return regions
    regions = np.unique(regions, axis=0)
    r = regions[:, None, :]
    q = regions[None, :, :]
    inside = (r[..., 0] >= q[..., 0]) & (r[..., 1] >= q[..., 1]) & (r[..., 2] <= q[..., 2]) & (r[..., 3] <= q[..., 3])
    np.fill_diagonal(inside, False)
    return regions[~inside.any(axis=1)]


def worth_full_frame(regions: np.ndarray, frame_wh: tuple[int, int], crop_wh: tuple[int, int],
                     full_wh: tuple[int, int], *, max_regions: int = 4, max_cover: float = 0.8) -> bool:
    """True when one full-frame pass is the better choice than these crops: there are more than
    `max_regions`, their model pixels add up to more than those of a full pass (at equal cost the crop
    wins: it sees what moved at a higher resolution), or together they cover more than `max_cover` of
    the frame (the full pass then sees the same at about the same resolution)."""
    if len(regions) == 0:
        return False
    if len(regions) > max_regions or len(regions) * crop_wh[0] * crop_wh[1] > full_wh[0] * full_wh[1]:
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
