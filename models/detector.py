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
        # one per input size it runs at (own first, then those `add_sizes` accepted, in that order)
        self._letterboxes: dict[tuple[int, int], Letterbox] = {}
        self._grids: dict[tuple[int, int], YoloxGrid] = {}
        self._letterbox(hw)

    def _letterbox(self, hw: tuple[int, int]) -> Letterbox:
        """The letterbox (and YOLOX grid) of one input size, made once."""
        hw = (int(hw[0]), int(hw[1]))
        if hw not in self._letterboxes:
            yolox = self.family == "yolox"
            # YOLOX: BGR 0..255 padded bottom/right; ultralytics: RGB 0..1, centred
            self._letterboxes[hw] = Letterbox(hw, centred=not yolox, rgb=not yolox, unit_scale=not yolox)
            if yolox:
                self._grids[hw] = YoloxGrid(hw)
        return self._letterboxes[hw]

    @property
    def input_hw(self) -> tuple[int, int]:
        """The model's input (height, width) in pixels: crops of this size are not resized."""
        return self.runner.input_hw

    @property
    def batches(self) -> bool:
        """True when `detect_batch` runs all images in one inference (dynamic-batch model)."""
        return self.runner.dynamic_batch

    @property
    def input_sizes(self) -> list[tuple[int, int]]:
        """The input (height, width) sizes this detector runs at: its own, then those `add_sizes` accepted."""
        return list(self._letterboxes)

    def add_sizes(self, sides: list[int] | tuple[int, ...]) -> list[tuple[int, int]]:
        """Also run at these square input sizes (pixels, multiples of 32: the networks' largest stride) when
        the backend can reshape the network; each is run once now on a blank input (OpenVINO compiles each
        size on first use, ~0.4 s, which must not happen while cameras wait). Returns `input_sizes`.

        A size the backend cannot take is left out with a warning; a fixed-size backend keeps its own only.
        """
        for side in sides:
            hw = (int(side), int(side))
            if hw in self._letterboxes:
                continue
            if side <= 0 or side % 32:
                raise ValueError(f"crop sizes must be positive multiples of 32 pixels, got {side}")
            if not getattr(self.runner, "resizable", False):
                log.info("%s backend runs only its own input %s; crop size %d not used",
                         type(self.runner).__name__, self.input_hw, side)
                continue
            try:
                raw = self.runner.run(np.zeros((1, 3, *hw), np.float32))
                if family_of(raw.shape, hw) != self.family:
                    raise ValueError(f"output {raw.shape} at input {hw}")
            except (ValueError, RuntimeError) as exc:
                log.warning("detector cannot run at %dx%d, crop size left out: %s", side, side, exc)
                continue
            self._letterbox(hw)
        return self.input_sizes

    def warm_up(self, batch_sizes: list[int] | range) -> None:
        """Run each batch size once on a blank input, so that backends which compile per batch size
        (OpenVINO: ~0.4 s each) do it at start-up rather than inside the frame loop. Ignored without batching."""
        if self.runner.dynamic_batch:
            for n in batch_sizes:
                self.runner.run(np.zeros((n, 3, *self.input_hw), np.float32))

    def _decode(self, raw: np.ndarray, mapping: LetterboxMap, hw: tuple[int, int]) -> Detections:
        if self.family == "yolox":
            xyxy, scores = decode_yolox(raw, self._grids[hw], self.confidence, self.iou)
        else:
            xyxy, scores = decode_ultralytics(raw, self.confidence, self.iou)
        classes = np.full(len(scores), PERSON_CLASS_ID, np.int32)
        return Detections(mapping.to_source(xyxy), scores, classes)

    def _hw(self, input_hw: tuple[int, int] | None) -> tuple[int, int]:
        hw = self.input_hw if input_hw is None else (int(input_hw[0]), int(input_hw[1]))
        if hw not in self._letterboxes:
            raise ValueError(f"detector input {hw} was not added (input sizes: {self.input_sizes})")
        return hw

    def __call__(self, image_bgr: np.ndarray, input_hw: tuple[int, int] | None = None) -> Detections:
        """People in one BGR uint8 image (H, W, 3); boxes xyxy in that image's pixels. `input_hw`: one of
        `input_sizes` (default the model's own)."""
        hw = self._hw(input_hw)
        blob, mapping = self._letterboxes[hw](image_bgr)
        return self._decode(self.runner.run(blob)[0], mapping, hw)

    def detect_batch(self, images_bgr: list[np.ndarray], input_hw: tuple[int, int] | None = None
                     ) -> list[Detections]:
        """People in each image, in order. One inference for all when `batches` and the input is the model's
        own size (the batch sizes warmed up at start-up), else one per image."""
        hw = self._hw(input_hw)
        if not images_bgr:
            return []
        if not self.runner.dynamic_batch or len(images_bgr) == 1 or hw != self.input_hw:
            return [self(image, hw) for image in images_bgr]
        blob, maps = self._letterboxes[hw].batch(images_bgr)
        raw = self.runner.run(blob)
        return [self._decode(raw[i], m, hw) for i, m in enumerate(maps)]


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
