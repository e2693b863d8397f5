"""What the zone editor edits: windows, staff areas, floor calibrations and microphone baselines.

This is the payload between the page and the server (JSON) and the input of `ConfigDocument.apply`. Items
carry `orig_id`, the id they had when the page loaded them, so a renamed window keeps its comments and
other keys in the file. Coordinates are relative 0..1 of the frame, floor points in metres.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from detectors.config import FloorConfig, Point
from edge.config import MicBaselineConfig, NodeConfig


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class WindowEdit(_Strict):
    id: str
    orig_id: str | None = Field(None, description="id when loaded; None for a new window")
    camera: str
    post: list[Point]
    counter: list[Point] | None = None
    microphone: str | None = None


class StaffAreaEdit(_Strict):
    id: str
    orig_id: str | None = None
    camera: str
    zone: list[Point]


class CalibrationState(_Strict):
    """Everything the editor may change; the rest of the config is left as it is."""

    windows: list[WindowEdit] = Field(default_factory=list)
    staff_areas: list[StaffAreaEdit] = Field(default_factory=list)
    floors: dict[str, FloorConfig | None] = Field(default_factory=dict, description="camera id -> floor")
    baselines: dict[str, MicBaselineConfig | None] = Field(default_factory=dict, description="mic id ->")

    @classmethod
    def from_model(cls, cfg: NodeConfig) -> CalibrationState:
        return cls(
            windows=[WindowEdit(id=w.id, orig_id=w.id, camera=w.camera, post=w.post, counter=w.counter,
                                microphone=w.microphone) for w in cfg.windows],
            staff_areas=[StaffAreaEdit(id=a.id, orig_id=a.id, camera=a.camera, zone=a.zone)
                         for a in cfg.staff_areas],
            floors={c.id: c.floor for c in cfg.cameras},
            baselines={m.id: m.baseline for m in cfg.microphones},
        )
