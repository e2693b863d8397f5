"""Config of the person detector."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

Backend = Literal["auto", "onnxruntime", "openvino", "ultralytics"]


class ModelConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    path: str = Field("yolox_nano.onnx", description="a model name from the registry or a file path")
    backend: Backend = "auto"
    confidence: float = Field(0.35, gt=0, lt=1, description="minimum person score")
    iou: float = Field(0.45, gt=0, lt=1, description="NMS overlap threshold")
    threads: int | None = Field(None, ge=1, le=64, description="inference threads; default: 1 per worker "
                                "process when several workers share the node, else the core count")
    precision: Literal["auto", "f32", "bf16", "f16"] = Field("auto", description="OpenVINO inference precision")
