"""Config of evidence clips."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class ClipsConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    dir: str = Field("var/clips", description="where clips, snapshots and the clip index live")
    pre_s: float = Field(10.0, ge=0, le=600)
    post_s: float = Field(10.0, ge=0, le=600)
    max_s: float = Field(300.0, gt=0, le=7200, description="longer events continue in a new clip")
    keep_days: float = Field(30.0, gt=0)
    max_gb: float = Field(50.0, gt=0)
    min_free_gb: float = Field(1.0, ge=0, description="delete oldest clips when the disk has less free")
    blur_faces: bool = Field(False, description="blur faces in snapshots (YuNet)")
    encode_preset: str = Field("veryfast", description="libx264 preset for sources that are not H.264")
