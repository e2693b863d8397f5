"""Config of the motion gate and the gated detection (no OpenCV here: the node's capture processes import
the node config and should not pay for cv2). Documented in detectors/motion.py and detectors/gating.py."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, field_validator


class MotionConfig(BaseModel):
    """Parameters of the motion gate (all sizes refer to the small grey frame unless stated)."""

    model_config = ConfigDict(extra="forbid")

    height_px: int = Field(180, ge=32, le=1080, description="rows of the small grey frame (width keeps "
                           "the aspect ratio); 180 is enough to see a walking person in a 720p view")
    blur_px: int = Field(5, ge=1, le=31, description="Gaussian blur kernel (odd), pixels of the small frame")
    threshold: int = Field(20, ge=1, le=255, description="grey-level difference from the background that "
                           "counts as motion")
    dilate_px: int = Field(7, ge=1, le=51, description="dilation kernel joining the blobs of one person")
    min_area_frac: float = Field(0.0006, ge=0, lt=1, description="smallest blob kept, as a fraction of the "
                                 "small frame's area (0.0006 of 320x180 = 35 pixels)")
    background_tau_s: float = Field(2.0, gt=0, le=600, description="time constant of the running-average "
                                    "background: a change that stays is absorbed after a few of these")
    global_change_frac: float = Field(0.6, gt=0, le=1, description="more than this fraction of pixels in "
                                      "motion is a global change (light, camera moved): reset, full check")



class GatingConfig(BaseModel):
    """Motion gating and region crops (one per node, used by every camera)."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool = Field(True, description="false: full-frame inference on every analysed frame")
    motion: MotionConfig = MotionConfig()
    recheck_s: float = Field(3.0, gt=0, le=600, description="tracked people are re-verified in crops at "
                             "least this often: an empty post is noticed within about this time even "
                             "when the leaving made no motion the gate saw")
    full_every_s: float = Field(10.0, gt=0, le=3600, description="a full-frame pass at least this often: "
                                "finds people the gate never saw move")
    stationary_s: float = Field(1.0, ge=0, le=60, description="a track whose box stayed put this long is "
                                "still; small motion inside its box is ignored until the next re-check")
    stationary_iou: float = Field(0.7, gt=0, lt=1, description="box overlap with its anchor under which a "
                                  "track counts as moving")
    absorb_cover: float = Field(0.9, gt=0, le=1, description="share of a motion blob inside a still "
                                "person's (padded) box above which the blob is theirs and ignored")
    empty_recheck_s: float = Field(1.0, ge=0, le=60, description="a crop where the detector found nobody "
                                   "absorbs the motion inside it for this long (screens, shadows, leaves); "
                                   "someone stepping into it is seen at most this much later; 0: off")
    pad_frac: float = Field(0.15, ge=0, le=2, description="context around each box in a crop")
    max_scale: float | None = Field(None, ge=1, le=8, description="a crop may show the picture downscaled "
                                    "at most this much (it then covers this many times the input's size); "
                                    "default: as much as the full-frame pass does (1280x720 into 640x384: "
                                    "2.0), so a crop never sees a person coarser than the full pass would")
    max_regions: int = Field(3, ge=1, le=16, description="more crops than this: one full-frame pass")
    max_cover: float = Field(0.8, gt=0, le=1, description="crops covering more of the frame: full frame")
    crop_model: str | None = Field(None, description="model file for crops (the same network exported at "
                                   "crop size); default: the node's model, at crop_input_hw when it can "
                                   "take a size (.pt), else at its own input size")
    crop_input_hw: tuple[int, int] = Field((320, 320), description="(height, width) of the crop model")
    crop_sizes: list[int] = Field([160, 224, 320], description="square inputs (pixels, multiples of 32) the "
                                  "crop model also runs at when its backend can reshape it (OpenVINO, torch, "
                                  "ONNX exported with a dynamic size): each crop runs at the smallest that "
                                  "shows it within max_scale; a 224 input costs about half a 320 one; "
                                  "[]: the model's own size only")

    @field_validator("crop_sizes")
    @classmethod
    def _multiples_of_32(cls, v: list[int]) -> list[int]:
        bad = [s for s in v if s <= 0 or s % 32]
        if bad:
            raise ValueError(f"crop sizes must be positive multiples of 32 pixels (the detectors' largest "
                             f"stride), got {bad}")
        return sorted(set(v))
