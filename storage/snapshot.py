"""The alert snapshot: a JPEG of the frame that raised the alert, with the window zones and the people
drawn, and faces optionally blurred (YuNet through cv2.FaceDetectorYN) for privacy.

Zones are relative polygons (0..1); people boxes are pixels of the frame they were detected in
(`people_wh`, which may be smaller than the snapshot image: boxes are scaled to the image).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np

from detectors.types import Detections

log = logging.getLogger(__name__)
ZONE_COLOURS = {"post": (0, 200, 255), "counter": (255, 160, 0), "staff": (200, 0, 200)}  # BGR


class FaceBlur:
    """Blurs every face YuNet finds (score >= `score`). model: the YuNet .onnx file (the node resolves
    `clips.face_model` through models.registry, which knows its official URL and sha256)."""

    def __init__(self, model: str | Path, *, score: float = 0.6) -> None:
        path = Path(model)
        if not path.is_file():
            raise FileNotFoundError(f"face blur: YuNet model {model} not found; give the model path, or turn "
                                    "clips.blur_faces off")
        self._det = cv2.FaceDetectorYN.create(str(path), "", (320, 320), score, 0.3, 50)
        self.faces_blurred = 0

    def faces(self, image: np.ndarray) -> np.ndarray:
        """float32 array (N, 4): face boxes x, y, w, h in pixels of `image`."""
        h, w = image.shape[:2]
        self._det.setInputSize((w, h))
        _, found = self._det.detect(image)
        return np.zeros((0, 4), np.float32) if found is None else found[:, :4].astype(np.float32)

    def apply(self, image: np.ndarray) -> np.ndarray:
        """A copy of `image` (H, W, 3 uint8 BGR) with each face (grown by 20 %) heavily blurred."""
        out = image.copy()
        h, w = image.shape[:2]
        for x, y, bw, bh in self.faces(image):
            x1, y1 = max(0, int(x - 0.2 * bw)), max(0, int(y - 0.2 * bh))
            x2, y2 = min(w, int(x + 1.2 * bw)), min(h, int(y + 1.2 * bh))
            if x2 - x1 < 2 or y2 - y1 < 2:
                continue
            k = max(3, (max(x2 - x1, y2 - y1) // 2) | 1)
            out[y1:y2, x1:x2] = cv2.GaussianBlur(out[y1:y2, x1:x2], (k, k), 0)
            self.faces_blurred += 1
        return out


def render_snapshot(image: np.ndarray, *, zones: Sequence[tuple[str, str, Sequence[Sequence[float]]]] = (),
                    people: Detections | None = None, people_wh: tuple[int, int] | None = None,
                    title: str | None = None, face_blur: FaceBlur | None = None, quality: int = 85) -> bytes:
    """JPEG bytes of the annotated frame.

    image: uint8 (H, W, 3) BGR. zones: (zone id, kind "post"|"counter"|"staff", relative polygon).
    people: boxes in pixels of a frame of size `people_wh` (default: the image size).
    """
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise ValueError(f"snapshot: expected a uint8 (H, W, 3) BGR image, got {image.dtype} {image.shape}")
    img = face_blur.apply(image) if face_blur is not None else image.copy()
    h, w = img.shape[:2]
    th = max(1, round(min(w, h) / 270))
    for zone_id, kind, poly in zones:
        pts = np.round(np.asarray(poly, np.float64) * [w, h]).astype(np.int32)
        colour = ZONE_COLOURS.get(kind, (0, 255, 0))
        cv2.polylines(img, [pts], True, colour, th, cv2.LINE_AA)
        cv2.putText(img, zone_id, tuple(int(v) for v in pts.min(axis=0) + [2, 12 * th]),
                    cv2.FONT_HERSHEY_SIMPLEX, 0.4 * th, colour, th, cv2.LINE_AA)
    if people is not None and len(people):
        pw, ph = people_wh or (w, h)
        boxes = np.round(people.xyxy * [w / pw, h / ph, w / pw, h / ph]).astype(np.int32)
        for (x1, y1, x2, y2), tid in zip(boxes, people.tracker_id, strict=True):
            cv2.rectangle(img, (int(x1), int(y1)), (int(x2), int(y2)), (0, 255, 0), th)
            if tid >= 0:
                cv2.putText(img, f"#{tid}", (int(x1), max(10, int(y1) - 3)), cv2.FONT_HERSHEY_SIMPLEX,
                            0.4 * th, (0, 255, 0), th, cv2.LINE_AA)
    if title:
        cv2.putText(img, title, (4, h - 6), cv2.FONT_HERSHEY_SIMPLEX, 0.45 * th, (255, 255, 255), th,
                    cv2.LINE_AA)
    ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    if not ok:
        raise ValueError("snapshot: JPEG encoding failed")
    return buf.tobytes()
