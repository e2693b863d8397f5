"""Which detectors a node runs: the full-frame model and the crop model of the motion-gated path."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from edge.config import NodeConfig
from models.config import ModelConfig


def crop_model_config(cfg: NodeConfig) -> ModelConfig | None:
    """The crop detector's config, or None when crops go through the full-frame model.

    `gating.crop_model` wins; else a `.pt` node model is exported at `gating.crop_input_hw`; a fixed-size
    ONNX/IR model (e.g. YOLOX-Nano 416x416, already square) is used for crops as it is.
    """
    g = cfg.gating
    if g.crop_model:
        return cfg.model.model_copy(update={"path": g.crop_model, "input_hw": None})
    if Path(cfg.model.path).suffix == ".pt":
        return cfg.model.model_copy(update={"input_hw": tuple(g.crop_input_hw)})
    return None


def load_detectors(cfg: NodeConfig, *, threads: int | None = None) -> tuple[Any, Any]:
    """(full-frame detector, crop detector or None), each `models.detector.PersonDetector`."""
    from models.detector import load_detector

    full = load_detector(cfg.model, threads=threads)
    crop_cfg = crop_model_config(cfg) if cfg.gating.enabled else None
    crop = load_detector(crop_cfg, threads=threads) if crop_cfg is not None else None
    return full, crop
