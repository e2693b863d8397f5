"""Motion-gated detection: decide per frame whether the detector runs, on which crops, and which people are
carried over from the previous frame without being looked at again.

Per analysed frame (`DetectionPlanner.plan`), in this order:
  - full frame when the gate has no background yet, after a global change, and every `full_every_s`
    seconds (anyone the gate missed is found);
  - every `recheck_s` seconds the tracked people are looked at again in crops, still or not (a person who
    sits still is re-verified; one who left unseen is dropped);
  - otherwise the boxes to look at are the motion blobs plus the tracks that move (a tracked person whose
    box changed in the last `stationary_s` seconds) plus any still track touched by a blob; blobs lying
    inside a still person's box (breathing, typing, a turning head) are absorbed and do not wake the
    detector;
  - nothing to look at: no inference, every track is carried (`kind == "skip"`);
  - else crops around those boxes (`detectors.regions`), each run at the smallest of the crop detector's
    input sizes that shows it no coarser than `max_scale` (default: the full pass's own downscale), or one
    full-frame pass when that costs less.
Tracks outside every crop are carried with their last box, so the tracker keeps them; a person who leaves
creates motion, their old box falls inside a crop, the detector does not find them there and they are
dropped within one analysed frame.

`GatedDetector` runs a plan in-process with two detectors (full frame and crop size): this is the replay
path, deterministic (it depends only on the frames and their timestamps). The live node runs the same
planner in its main process and the crops in worker processes.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Literal, Protocol

import numpy as np

from detectors.gating_config import GatingConfig
from detectors.motion import MotionGate, MotionResult
from detectors.regions import box_cover, box_iou, merge_detections, nms, plan_crops, worth_full_frame
from detectors.types import Detections

PlanKind = Literal["skip", "regions", "full"]


class PersonDetector(Protocol):
    """What `models.load_detector` returns (only what gating needs)."""

    input_hw: tuple[int, int]

    def __call__(self, image_bgr: np.ndarray, input_hw: tuple[int, int] | None = None) -> Detections: ...

    def detect_batch(self, images: Sequence[np.ndarray], input_hw: tuple[int, int] | None = None
                     ) -> list[Detections]: ...


@dataclass
class DetectPlan:
    """What to run for one frame.

    Attributes:
        kind: "skip" (no inference), "regions" (the crops in `regions`) or "full" (one whole-frame pass).
        regions: int32 (R, 4) crops in frame pixels; for "full" one row covering the frame.
        inputs: int32 (R, 2) the detector input (w, h) each crop runs at ("regions"; empty otherwise).
        carried: people taken over from the previous frame unseen (frame pixels, tracker_id reset to -1).
        motion: the gate's result for this frame.
        reason: why this kind (for stats and debugging): "warmup", "global", "full_every", "recheck", "cover", "motion", "idle".
    """

    kind: PlanKind
    regions: np.ndarray
    carried: Detections
    motion: MotionResult
    reason: str = ""
    ts: float = 0.0
    inputs: np.ndarray = field(default_factory=lambda: np.zeros((0, 2), np.int32))


@dataclass
class _Anchor:
    box: np.ndarray
    since: float


@dataclass
class GatingStats:
    """Counts per plan kind, crops run, and crops per detector input ("224x224": n)."""

    frames: int = 0
    skip: int = 0
    regions: int = 0
    full: int = 0
    crops: int = 0
    reasons: dict[str, int] = field(default_factory=dict)
    crop_inputs: dict[str, int] = field(default_factory=dict)

    @property
    def inference_fraction(self) -> float:
        return (self.regions + self.full) / self.frames if self.frames else 0.0


class DetectionPlanner:
    """Per-camera planner. `plan(image, ts, tracks)` then, after running it, `combine(plan, found)`.

    `crop_shapes`: the (w, h) inputs the crop detector runs at (default `crop_wh` alone). `full_offset_s`:
    the first periodic full pass comes this much earlier than `full_every_s` after the warm-up, so that
    the cameras of one node, started together, do not all ask for a full pass in the same second.
    """

    def __init__(self, cfg: GatingConfig, *, crop_wh: tuple[int, int], full_wh: tuple[int, int],
                 crop_shapes: Sequence[tuple[int, int]] | None = None, full_offset_s: float = 0.0) -> None:
        self.cfg = cfg
        self.crop_wh = crop_wh
        self.full_wh = full_wh
        self.crop_shapes = sorted({tuple(map(int, s)) for s in (crop_shapes or [])} | {tuple(crop_wh)},
                                  key=lambda s: s[0] * s[1])
        self.full_offset_s = float(full_offset_s) % cfg.full_every_s
        self.gate = MotionGate(cfg.motion)
        self.stats = GatingStats()
        self._last_full: float | None = None
        self._last_recheck = -np.inf
        self._anchors: dict[int, _Anchor] = {}
        self._last_output = Detections.empty()
        self._quiet = np.zeros((0, 4), np.float32)  # crops recently run that held nobody
        self._quiet_until = np.zeros(0, np.float64)

    def plan(self, image_bgr: np.ndarray, ts: float, tracks: Detections | None = None, *,
             motion: MotionResult | None = None) -> DetectPlan:
        """Decide for one frame (uint8 (H, W, 3)). The people considered are those `combine` returned last
        frame, with ids from `tracks` (the tracker's people of the previous frame, frame pixels); `motion`: `self.gate.update(image, ts)` when
        the caller ran it already (to time it apart)."""
        tracks = self._with_track_ids(self._last_output, tracks)
        motion = self.gate.update(image_bgr, ts) if motion is None else motion
        h, w = image_bgr.shape[:2]
        still = self._still_mask(tracks, ts)
        if not self.cfg.enabled or motion.warmup or motion.global_change or self._full_due(ts):
            reason = ("disabled" if not self.cfg.enabled else "warmup" if motion.warmup
                      else "global" if motion.global_change else "full_every")
            return self._full(motion, (w, h), ts, reason)
        recheck = len(tracks) > 0 and ts - self._last_recheck >= self.cfg.recheck_s
        if recheck:
            self._last_recheck = ts
            still[:] = False  # every tracked person is looked at
        blobs = self._unabsorbed(motion.boxes_xyxy, tracks.xyxy[still], ts)
        touched = still & (box_iou(tracks.xyxy, blobs).max(axis=1) > 0 if len(blobs) else False)
        look = np.concatenate([blobs, tracks.xyxy[~still | touched]])
        if len(look) == 0:
            return self._count(DetectPlan("skip", np.zeros((0, 4), np.int32), _unseen(tracks), motion, "idle", ts))
        regions, inputs = plan_crops(look, (w, h), self.crop_shapes, pad_frac=self.cfg.pad_frac,
                                     max_scale=self.max_scale((w, h)))
        if worth_full_frame(regions, (w, h), self.crop_wh, self.full_wh, max_regions=self.cfg.max_regions,
                            max_cover=self.cfg.max_cover, inputs=inputs):
            return self._full(motion, (w, h), ts, "recheck" if recheck else "cover")
        inside = box_cover(tracks.xyxy, regions.astype(np.float32)).max(axis=1) >= 0.9 if len(tracks) else None
        carried = _unseen(tracks if inside is None else tracks[~inside])
        return self._count(DetectPlan("regions", regions, carried, motion, "recheck" if recheck else "motion", ts,
                                      inputs))

    def max_scale(self, frame_wh: tuple[int, int]) -> float:
        """How much a crop may downscale: `cfg.max_scale`, else the full-frame pass's own downscale (>= 1)."""
        if self.cfg.max_scale is not None:
            return self.cfg.max_scale
        return max(1.0, frame_wh[0] / self.full_wh[0], frame_wh[1] / self.full_wh[1])

    def combine(self, plan: DetectPlan, found: Detections) -> Detections:
        """The frame's people: `found` (frame pixels, from the plan's crops or full pass) plus the carried."""
        out = nms(Detections.merge([found, plan.carried])) if len(plan.carried) else found
        self._last_output = out
        if plan.kind == "regions" and self.cfg.empty_recheck_s > 0:
            boxes = plan.regions.astype(np.float32)
            held = box_cover(found.xyxy, boxes).max(axis=0) >= 0.5 if len(found) else np.zeros(len(boxes), bool)
            keep = self._quiet_until > plan.ts
            self._quiet = np.concatenate([self._quiet[keep], boxes[~held]])
            until = np.full(int((~held).sum()), plan.ts + self.cfg.empty_recheck_s)
            self._quiet_until = np.concatenate([self._quiet_until[keep], until])
        return out

    @staticmethod
    def _with_track_ids(prev: Detections, tracks: Detections | None) -> Detections:
        """The people found last frame with the tracker's ids where a track matches them (IoU > 0.5), plus
        the tracker's people that match none of them.

        The carried set starts from what was detected, not from the tracker's output: a tracker shows a
        person only once confirmed (after a few detections), and people who stand still from the start
        must be carried until then too; the ids tell who has stayed put long enough to count as still."""
        if tracks is None or len(tracks) == 0:
            return prev
        if len(prev) == 0:
            return tracks
        iou = box_iou(prev.xyxy, tracks.xyxy)
        best = iou.argmax(axis=1)
        ids = np.where(iou[np.arange(len(prev)), best] > 0.5, tracks.tracker_id[best], -1)
        unmatched = iou.max(axis=0) <= 0.5
        return Detections.merge([Detections(prev.xyxy, prev.confidence, prev.class_id, ids), tracks[unmatched]])

    def _unabsorbed(self, blobs: np.ndarray, still_xyxy: np.ndarray, ts: float) -> np.ndarray:
        """Motion blobs not explained by a still person (inside their padded box) nor by a crop that was
        just looked at and held nobody."""
        if len(blobs) == 0:
            return blobs
        quiet = self._quiet[self._quiet_until > ts]
        known = np.concatenate([_padded(still_xyxy, 0.1), quiet])
        if len(known) == 0:
            return blobs
        return blobs[box_cover(blobs, known).max(axis=1) < self.cfg.absorb_cover]

    def _full(self, motion: MotionResult, wh: tuple[int, int], ts: float, reason: str) -> DetectPlan:
        self._last_full = self._last_recheck = ts
        if reason == "warmup":  # the next periodic pass comes full_offset_s early (see the class docstring)
            self._last_full = ts - self.full_offset_s
        region = np.array([[0, 0, wh[0], wh[1]]], np.int32)
        return self._count(DetectPlan("full", region, Detections.empty(), motion, reason, ts))

    def _count(self, plan: DetectPlan) -> DetectPlan:
        s = self.stats
        s.frames += 1
        setattr(s, plan.kind, getattr(s, plan.kind) + 1)
        s.crops += len(plan.regions) if plan.kind == "regions" else 0
        s.reasons[plan.reason] = s.reasons.get(plan.reason, 0) + 1
        for cw, ch in plan.inputs.tolist():
            key = f"{cw}x{ch}"
            s.crop_inputs[key] = s.crop_inputs.get(key, 0) + 1
        return plan

    def _full_due(self, ts: float) -> bool:
        return self._last_full is None or ts - self._last_full >= self.cfg.full_every_s

    def _still_mask(self, tracks: Detections, ts: float) -> np.ndarray:
        """bool (N,): tracks whose box has stayed near its anchor for `stationary_s`. Updates the anchors;
        untracked boxes (id -1) count as moving."""
        still = np.zeros(len(tracks), bool)
        anchors: dict[int, _Anchor] = {}
        for i, tid in enumerate(tracks.tracker_id.tolist()):  # one entry per tracked person
            if tid < 0:
                continue
            box = tracks.xyxy[i]
            a = self._anchors.get(tid)
            if a is None or float(box_iou(box[None], a.box[None])[0, 0]) < self.cfg.stationary_iou:
                a = _Anchor(box.copy(), ts)
            anchors[tid] = a
            still[i] = ts - a.since >= self.cfg.stationary_s
        self._anchors = anchors
        return still


def full_offset_s(cfg: GatingConfig, index: int, cameras: int) -> float:
    """`DetectionPlanner.full_offset_s` of camera `index` of `cameras`: their periodic full passes spread
    evenly over `full_every_s` (used alike by the live node and replay)."""
    return cfg.full_every_s * index / max(1, cameras)


def _padded(boxes: np.ndarray, frac: float) -> np.ndarray:
    wh = np.concatenate([boxes[:, 2:] - boxes[:, :2]] * 2, axis=1)
    return boxes + wh * frac * np.array([-1, -1, 1, 1], np.float32)


def _unseen(dets: Detections) -> Detections:
    """Carried people: same boxes and scores, no track id (the tracker matches them again)."""
    return Detections(dets.xyxy, dets.confidence, dets.class_id)


class GatedDetector:
    """Motion-gated detection in one process (replay, tests, a single-camera node).

    `__call__(image, ts, tracks=None) -> Detections` in frame pixels. `crop` may be None: crops then go
    through the full-frame detector (correct, but each crop costs a full pass).
    """

    def __init__(self, full: PersonDetector, crop: PersonDetector | None, cfg: GatingConfig,
                 *, batch: bool = True, full_offset_s: float = 0.0) -> None:
        self.full = full
        self.crop = crop or full
        self.batch = batch
        fh, fw = getattr(full, "input_hw", None) or (640, 640)
        ch, cw = getattr(self.crop, "input_hw", None) or (fh, fw)
        sizes = self.crop.add_sizes(cfg.crop_sizes) if hasattr(self.crop, "add_sizes") else [(ch, cw)]
        self.planner = DetectionPlanner(cfg, crop_wh=(cw, ch), full_wh=(fw, fh),
                                        crop_shapes=[(w, h) for h, w in sizes], full_offset_s=full_offset_s)

    @property
    def stats(self) -> GatingStats:
        return self.planner.stats

    def __call__(self, image_bgr: np.ndarray, ts: float, tracks: Detections | None = None) -> Detections:
        plan = self.planner.plan(image_bgr, ts, tracks)
        return self.planner.combine(plan, run_plan(plan, image_bgr, self.full, self.crop, batch=self.batch))


def run_plan(plan: DetectPlan, image_bgr: np.ndarray, full: Callable[[np.ndarray], Detections],
             crop: PersonDetector, *, batch: bool = True) -> Detections:
    """Run the detector(s) a plan asks for; boxes in frame pixels. Crops are views (no copies)."""
    if plan.kind == "skip":
        return Detections.empty()
    if plan.kind == "full":
        return full(image_bgr)
    views = [image_bgr[y1:y2, x1:x2] for x1, y1, x2, y2 in plan.regions.tolist()]
    parts = detect_crops(crop, views, plan.inputs, batch=batch)
    return merge_detections(parts, plan.regions, frame_wh=(image_bgr.shape[1], image_bgr.shape[0]))


def detect_crops(crop: PersonDetector, views: Sequence[np.ndarray], inputs: np.ndarray | None, *,
                 batch: bool = True, max_batch: int | None = None) -> list[Detections]:
    """Detections of each crop view (in its own pixels), in order: the views of one input size (`inputs`
    (R, 2) (w, h); None or empty: the detector's own size) run together, in batches of at most `max_batch`
    when `batch` and the detector batches."""
    own = tuple(getattr(crop, "input_hw", (0, 0)))
    sizes = [own] * len(views) if inputs is None or len(inputs) == 0 else [(h, w) for w, h in inputs.tolist()]
    out: list[Detections | None] = [None] * len(views)
    for hw in dict.fromkeys(sizes):
        idx = [i for i, s in enumerate(sizes) if s == hw]
        kw = {} if hw == own else {"input_hw": hw}
        step = len(idx) if max_batch is None or not batch else max_batch
        for k in range(0, len(idx), step):
            chunk = idx[k:k + step]
            group = [views[i] for i in chunk]
            many = batch and len(group) > 1 and hasattr(crop, "detect_batch")
            found = crop.detect_batch(group, **kw) if many else [crop(v, **kw) for v in group]
            for i, d in zip(chunk, found, strict=True):
                out[i] = d
    return [d for d in out if d is not None]
