"""Config of evidence clips: `clips: {dir, pre_s, post_s, max_s, keep_days, max_gb, ...}` in the node config."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, field_validator


class ClipUploadConfig(BaseModel):
    """Where finished clips and snapshots go: the central service's `POST /api/clips` (see storage/uploader.py)."""

    model_config = ConfigDict(extra="forbid")

    url: str = Field(description="base URL of the central service, e.g. http://central:8080")
    token_file: str = Field(description="file holding the bearer token of a user with role 'node' "
                            "(never the token itself)")
    timeout_s: float = Field(30.0, gt=0, le=600, description="per-request timeout")
    retry_max_s: float = Field(300.0, gt=0, le=86400, description="longest wait between retries")

    @field_validator("url")
    @classmethod
    def _url(cls, v: str) -> str:
        if not (v.startswith("http://") or v.startswith("https://")):
            raise ValueError("expected http://host:port or https://host:port")
        return v.rstrip("/")


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
    face_model: str = Field("yunet_s_640_640.onnx", description="face detector for blur_faces: a model "
                            "name known to models.registry or a file path")
    encode_preset: str = Field("veryfast", description="libx264 preset for sources that are not H.264")
    encode_crf: int = Field(23, ge=0, le=51, description="libx264 quality for sources that are not H.264")
    encode_queue: int = Field(64, ge=1, le=10_000, description="packets waiting for the encoder; "
                              "beyond this new packets are dropped (policy drop_newest) and counted")
    ring_margin_s: float = Field(3.0, ge=0, le=60, description="extra pre-roll kept because events are "
                                 "raised from decoded frames that lag the packets a little")
    ring_max_mb: float = Field(64.0, gt=0, description="hard cap of the pre-roll ring per camera")
    audio_bitrate: int = Field(48_000, ge=8_000, le=320_000, description="AAC bits per second for "
                               "microphone audio")
    upload: ClipUploadConfig | None = Field(None, description="absent: clips stay on the node only")
