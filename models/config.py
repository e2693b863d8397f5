"""Config of the person detector."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

Backend = Literal["auto", "onnxruntime", "openvino", "ultralytics"]
Family = Literal["auto", "yolox", "ultralytics"]


class ModelConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    path: str = Field("yolox_nano.onnx", description="a model name from the registry or a file path")
    backend: Backend = "auto"
    confidence: float = Field(0.35, gt=0, lt=1, description="minimum person score")
    iou: float = Field(0.45, gt=0, lt=1, description="NMS overlap threshold")
    threads: int | None = Field(None, ge=1, le=64, description="inference threads; default: 1 per worker "
                                "process when several workers share the node, else the core count")
    precision: Literal["auto", "f32", "bf16", "f16"] = Field("auto", description="OpenVINO inference precision")
    family: Family = Field("auto", description="output layout; auto: told apart from the output shape")
    input_hw: tuple[int, int] | None = Field(
        None, description="(height, width) input for .pt weights and ONNX files with a dynamic size; "
        "multiples of 32; ignored for fixed-size models. Default for .pt: 384x640 (16:9)")

    @field_validator("input_hw")
    @classmethod
    def _multiple_of_32(cls, v: tuple[int, int] | None) -> tuple[int, int] | None:
        if v is not None and (min(v) <= 0 or v[0] % 32 or v[1] % 32):
            raise ValueError(f"input_hw must be positive multiples of 32 (height, width), got {v}")
        return v
