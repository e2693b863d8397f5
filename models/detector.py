"""The person detector: one call per frame (or per batch of crops) returning `Detections` of people.

    det = load_detector(ModelConfig(path="yolox_nano.onnx"), threads=1)
    people = det(frame_bgr)                    # Detections, boxes in frame_bgr's pixels, class 0 only
    per_crop = det.detect_batch([c1, c2, c3])  # one inference when the model has a dynamic batch
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np

from detectors.types import PERSON_CLASS_ID, Detections
from models.backends import BACKENDS, DEFAULT_PT_INPUT_HW, Runner
from models.config import ModelConfig
from models.decode import Family, YoloxGrid, decode_ultralytics, decode_yolox, family_of
from models.letterbox import Letterbox, LetterboxMap
from models.registry import resolve_model

log = logging.getLogger(__name__)


class PersonDetector:
    """Letterbox -> backend -> decode (persons only, score >= confidence, NMS) -> boxes in source pixels.

    Construction runs one warm-up inference on a blank input, which also reveals the output layout when
    `family` is None.
    """

    def __init__(self, runner: Runner, *, confidence: float, iou: float, family: Family | None = None) -> None:
        if not 0 < confidence < 1 or not 0 < iou < 1:
            raise ValueError(f"confidence and iou must be in (0, 1), got {confidence} and {iou}")
        self.runner = runner
        self.confidence = float(confidence)
        self.iou = float(iou)
        hw = runner.input_hw
        warm = runner.run(np.zeros((1, 3, *hw), np.float32))
        detected = family_of(warm.shape, hw)
        if family is not None and family != detected:
            raise ValueError(f"model output {warm.shape} looks like {detected}, but family {family!r} was set")
        self.family: Family = detected
        yolox = detected == "yolox"
        # YOLOX: BGR 0..255 padded bottom/right; ultralytics: RGB 0..1, centred
        self.letterbox = Letterbox(hw, centred=not yolox, rgb=not yolox, unit_scale=not yolox)
        self._grid = YoloxGrid(hw) if yolox else None

    @property
    def input_hw(self) -> tuple[int, int]:
        """The model's input (height, width) in pixels: crops of this size are not resized."""
        return self.runner.input_hw

    @property
    def batches(self) -> bool:
        """True when `detect_batch` runs all images in one inference (dynamic-batch model)."""
        return self.runner.dynamic_batch

    def warm_up(self, batch_sizes: list[int] | range) -> None:
        """Run each batch size once on a blank input, so that backends which compile per batch size
        (OpenVINO: ~0.4 s each) do it at start-up rather than inside the frame loop. Ignored without batching."""
        if self.runner.dynamic_batch:
            for n in batch_sizes:
                self.runner.run(np.zeros((n, 3, *self.input_hw), np.float32))

    def _decode(self, raw: np.ndarray, mapping: LetterboxMap) -> Detections:
        if self._grid is not None:
            xyxy, scores = decode_yolox(raw, self._grid, self.confidence, self.iou)
        else:
            xyxy, scores = decode_ultralytics(raw, self.confidence, self.iou)
        classes = np.full(len(scores), PERSON_CLASS_ID, np.int32)
        return Detections(mapping.to_source(xyxy), scores, classes)

    def __call__(self, image_bgr: np.ndarray) -> Detections:
        """People in one BGR uint8 image (H, W, 3); boxes xyxy in that image's pixels."""
        blob, mapping = self.letterbox(image_bgr)
        return self._decode(self.runner.run(blob)[0], mapping)

    def detect_batch(self, images_bgr: list[np.ndarray]) -> list[Detections]:
        """People in each image, in order. One inference for all when `batches`, else one per image."""
        if not images_bgr:
            return []
        if not self.runner.dynamic_batch or len(images_bgr) == 1:
            return [self(image) for image in images_bgr]
        blob, maps = self.letterbox.batch(images_bgr)
        raw = self.runner.run(blob)
        return [self._decode(raw[i], m) for i, m in enumerate(maps)]


def default_threads() -> int:
    """Cores this process may use (the affinity mask, not the machine's count)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def pick_backend(path: Path, requested: str) -> str:
    """"auto": ultralytics for .pt; OpenVINO for .onnx/.xml when importable, else ONNX Runtime."""
    if requested != "auto":
        return requested
    if path.suffix == ".pt":
        return "ultralytics"
    try:
        import openvino  # noqa: F401
    except ImportError:
        if path.suffix == ".xml":
            raise ValueError(f"{path} is an OpenVINO IR model but openvino is not installed") from None
        return "onnxruntime"
    return "openvino"


def load_detector(cfg: ModelConfig, *, threads: int | None = None) -> PersonDetector:
    """Resolve `cfg.path`, pick the backend and build a `PersonDetector`.

    `threads` (e.g. 1 per worker process when several share the node) overrides `cfg.threads`; the default is
    the cores available to this process. A `.pt` with backend onnxruntime/openvino is exported once, next to
    the weights, at `cfg.input_hw` (default 384x640): to ONNX, and from that to OpenVINO IR for openvino.

    Raises:
        ModelNotFoundError: the model file is missing (message says where to put it).
        ValueError: the backend cannot run this file, or its output layout is unknown.
    """
    path = resolve_model(cfg.path)
    backend = pick_backend(path, cfg.backend)
    n_threads = threads or cfg.threads or default_threads()
    if path.suffix == ".pt" and backend != "ultralytics":
        from models.export import export_onnx, export_openvino

        path = export_onnx(path, cfg.input_hw or DEFAULT_PT_INPUT_HW)
        if backend == "openvino":
            path = export_openvino(path)
    runner = BACKENDS[backend](path, threads=n_threads, precision=cfg.precision, input_hw=cfg.input_hw)
    family = None if cfg.family == "auto" else cfg.family
    det = PersonDetector(runner, confidence=cfg.confidence, iou=cfg.iou, family=family)
    log.info("person detector %s on %s (%s, %d threads, input %s)", path.name, backend, det.family,
             n_threads, det.input_hw)
    return det
