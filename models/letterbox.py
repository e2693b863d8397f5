"""Letterbox images into a model's input tensor with preallocated buffers, and map boxes back.

Two conventions, both padding with grey 114:
- YOLOX: image kept BGR, values 0..255 (no scaling), padding at the bottom/right (image at the top-left);
- ultralytics: RGB, values 0..1, image centred (padding split between both sides).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

PAD_VALUE = 114


@dataclass(frozen=True)
class LetterboxMap:
    """How one source image sits in the model input: input = source * (sx, sy) + (pad_x, pad_y), pixels."""

    sx: float
    sy: float
    pad_x: float
    pad_y: float
    src_w: int
    src_h: int

    def to_source(self, xyxy: np.ndarray) -> np.ndarray:
        """float32 (N, 4) boxes in input pixels -> source-image pixels, clipped to the image."""
        out = np.empty((len(xyxy), 4), np.float32)
        out[:, 0::2] = (xyxy[:, 0::2] - self.pad_x) / self.sx
        out[:, 1::2] = (xyxy[:, 1::2] - self.pad_y) / self.sy
        np.clip(out[:, 0::2], 0, self.src_w, out=out[:, 0::2])
        np.clip(out[:, 1::2], 0, self.src_h, out=out[:, 1::2])
        return out

    def to_input(self, xyxy: np.ndarray) -> np.ndarray:
        """float32 (N, 4) boxes in source pixels -> model-input pixels (inverse of `to_source`)."""
        scale = np.array([self.sx, self.sy, self.sx, self.sy], np.float32)
        offset = np.array([self.pad_x, self.pad_y, self.pad_x, self.pad_y], np.float32)
        return np.asarray(xyxy, np.float32) * scale + offset


class Letterbox:
    """Fits BGR uint8 images (H, W, 3) into float32 NCHW input tensors of one fixed size.

    The returned tensor is a buffer owned by this object and overwritten on the next call of the same batch
    size: run the model on it before letterboxing again.
    """

    def __init__(self, input_hw: tuple[int, int], *, centred: bool, rgb: bool, unit_scale: bool) -> None:
        h, w = input_hw
        if h <= 0 or w <= 0:
            raise ValueError(f"letterbox input size must be positive (height, width), got {input_hw}")
        self.input_hw = (int(h), int(w))
        self.centred = centred
        self.rgb = rgb
        self.scale = np.float32(1.0 / 255.0 if unit_scale else 1.0)
        self._canvas = np.full((h, w, 3), PAD_VALUE, np.uint8)
        self._blobs: dict[int, np.ndarray] = {}

    def place(self, image_bgr: np.ndarray) -> LetterboxMap:
        """Resize `image_bgr` into the padded uint8 canvas (H, W, 3); returns the mapping."""
        if image_bgr.ndim != 3 or image_bgr.shape[2] != 3 or image_bgr.dtype != np.uint8:
            raise ValueError(f"expected a BGR uint8 image (H, W, 3), got {image_bgr.dtype} {image_bgr.shape}")
        src_h, src_w = image_bgr.shape[:2]
        h, w = self.input_hw
        r = min(h / src_h, w / src_w)
        new_w, new_h = max(1, round(src_w * r)), max(1, round(src_h * r))
        if self.centred:
            left, top = (w - new_w) // 2, (h - new_h) // 2
        else:
            left = top = 0
        canvas = self._canvas
        canvas.fill(PAD_VALUE)  # 0.1 ms at 640x384; cheaper than tracking which border changed
        if (new_w, new_h) == (src_w, src_h):
            canvas[top : top + new_h, left : left + new_w] = image_bgr
        else:
            canvas[top : top + new_h, left : left + new_w] = cv2.resize(
                image_bgr, (new_w, new_h), interpolation=cv2.INTER_LINEAR
            )
        return LetterboxMap(new_w / src_w, new_h / src_h, float(left), float(top), src_w, src_h)

    def _blob(self, n: int) -> np.ndarray:
        if n not in self._blobs:
            self._blobs[n] = np.empty((n, 3, *self.input_hw), np.float32)
        return self._blobs[n]

    def _write(self, out_chw: np.ndarray) -> None:
        chw = self._canvas.transpose(2, 0, 1)
        if self.rgb:
            chw = chw[::-1]
        np.multiply(chw, self.scale, out=out_chw, casting="unsafe")

    def __call__(self, image_bgr: np.ndarray) -> tuple[np.ndarray, LetterboxMap]:
        """One image -> (float32 (1, 3, H, W) tensor, mapping)."""
        mapping = self.place(image_bgr)
        blob = self._blob(1)
        self._write(blob[0])
        return blob, mapping

    def batch(self, images_bgr: list[np.ndarray]) -> tuple[np.ndarray, list[LetterboxMap]]:
        """N images -> (float32 (N, 3, H, W) tensor, N mappings)."""
        if not images_bgr:
            raise ValueError("letterbox batch needs at least one image")
        blob = self._blob(len(images_bgr))
        maps = []
        for i, image in enumerate(images_bgr):
            maps.append(self.place(image))
            self._write(blob[i])
        return blob, maps
