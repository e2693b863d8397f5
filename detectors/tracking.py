"""Tracking adapter: ByteTrack from Roboflow's maintained `trackers` package, one update per analysed frame.

The tracker keeps a person's identity across frames, so rules that remember tracks (who has been staff,
who left) see one person as one id even when the detector misses them for a frame or two.
"""

from __future__ import annotations

import numpy as np
import supervision as sv
from trackers import ByteTrackTracker

from detectors.config import TrackerConfig
from detectors.types import Detections


class PersonTracker:
    """One tracker per camera. `update(dets, now)` returns the same people with `tracker_id` set
    (-1 for detections that have not yet become a confirmed track)."""

    def __init__(self, cfg: TrackerConfig, detect_fps: float) -> None:
        self.cfg = cfg
        self._tracker = ByteTrackTracker(
            lost_track_buffer=max(1, int(round(cfg.lost_s * detect_fps))),
            frame_rate=float(detect_fps),
            track_activation_threshold=cfg.activation_threshold,
            minimum_consecutive_frames=cfg.min_consecutive,
            minimum_iou_threshold=cfg.min_iou,
            high_conf_det_threshold=cfg.high_confidence,
        )

    def update(self, dets: Detections, now: float) -> Detections:
        sv_dets = sv.Detections(
            xyxy=dets.xyxy.astype(np.float32), confidence=dets.confidence, class_id=dets.class_id
        )
        # Fixed-rate mode (no timestamp): with trackers 2.6 the timestamp mode drops a track that misses a
        # single frame and gives it a new id when it returns; analysed frames come at detect_fps anyway.
        out = self._tracker.update(sv_dets)
        if len(out) == 0:
            return Detections.empty()
        conf = out.confidence if out.confidence is not None else np.ones(len(out), np.float32)
        cls = out.class_id if out.class_id is not None else np.zeros(len(out), np.int32)
        tid = out.tracker_id if out.tracker_id is not None else np.full(len(out), -1)
        return Detections(out.xyxy, conf, cls, tid)

    def reset(self) -> None:
        self._tracker.reset()
