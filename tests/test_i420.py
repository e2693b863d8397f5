"""Frames kept as decoded (I420): the live node's rings hold them, the gate reads the Y plane, the detector
converts only its crops. Checked on real decoded footage: a crop converted alone is the same pixels as the
same window of the whole converted frame, and a source's I420 and BGR outputs agree."""

from __future__ import annotations

import av
import numpy as np
import pytest

from detectors import i420
from edge.frame_ring import FrameRing
from edge.sources import VideoSource
from tests.assets import asset_or_skip as asset

FOOTAGE = "footage/one-by-one-person-detection.mp4"


@pytest.fixture(scope="module")
def decoded() -> np.ndarray:
    """One real frame, I420 as the H.264 decoder delivered it."""
    with av.open(str(asset(FOOTAGE))) as c:
        for i, vf in enumerate(c.decode(video=0)):
            if i == 40:  # a frame with a person in view
                assert vf.format.name == "yuv420p"
                return vf.to_ndarray()
    raise AssertionError("footage too short")


def test_layout_of_a_decoded_frame(decoded: np.ndarray) -> None:
    h, w = i420.frame_hw(decoded)
    assert (w, h) == (768, 432) and decoded.shape == i420.i420_shape(h, w)
    y, u, v = i420.planes(decoded)
    assert y.shape == (h, w) and u.shape == v.shape == (h // 2, w // 2)
    assert np.shares_memory(i420.luma(decoded), decoded)  # the gate's grey picture is a view
    bgr = i420.to_bgr(decoded)
    assert bgr.shape == (h, w, 3)
    # the Y plane is the frame's brightness: it follows the converted picture's own luma closely
    grey = bgr @ np.array([0.114, 0.587, 0.299])
    assert np.corrcoef(grey.ravel(), y.astype(np.float64).ravel())[0, 1] > 0.99


def test_crops_converted_alone_match_the_whole_frame(decoded: np.ndarray) -> None:
    whole = i420.to_bgr(decoded)
    h, w = i420.frame_hw(decoded)
    rng = np.random.default_rng(7)
    windows = [(0, 0, w, h), (1, 1, 2, 2), (w - 3, h - 5, w, h), (101, 37, 422, 358)]
    for _ in range(300):
        (x1, x2), (y1, y2) = sorted(rng.integers(0, w + 1, 2)), sorted(rng.integers(0, h + 1, 2))
        windows.append((int(x1), int(y1), int(x2), int(y2)))
    checked = 0
    for x1, y1, x2, y2 in windows:
        crop = i420.crop_bgr(decoded, x1, y1, x2, y2)
        if x2 <= x1 or y2 <= y1:
            assert crop.size == 0
            continue
        assert crop.shape == (y2 - y1, x2 - x1, 3)
        assert np.array_equal(crop, whole[y1:y2, x1:x2]), (x1, y1, x2, y2)
        checked += 1
    assert checked > 250
    # windows reaching past the frame are clipped to it
    assert np.array_equal(i420.crop_bgr(decoded, -20, -10, 50, 40), whole[:40, :50])


def test_source_i420_and_bgr_outputs_are_the_same_pixels() -> None:
    path = str(asset(FOOTAGE))
    a = VideoSource("cam1", path, detect_fps=5, pixel_format="i420")
    b = VideoSource("cam1", path, detect_fps=5)
    for n, (fa, fb) in enumerate(zip(a, b, strict=False)):
        assert fa.ts == fb.ts and fa.wh == fb.wh == (768, 432)
        assert fa.image.shape == (648, 768) and fb.image.shape == (432, 768, 3)
        assert np.array_equal(i420.to_bgr(fa.image), fb.image)
        if n == 10:
            break


def test_bad_sizes_and_formats_are_rejected() -> None:
    with pytest.raises(ValueError, match="even"):
        i420.i420_shape(431, 768)
    with pytest.raises(ValueError, match="i420 frame shape"):
        FrameRing.create(2, (433, 768), pixel_format="i420")  # rows must be H * 3 / 2
    with pytest.raises(ValueError, match="i420 frame shape"):
        FrameRing.create(2, (648, 768, 3), pixel_format="i420")  # a BGR frame in an I420 ring
    with pytest.raises(ValueError, match="pixel format"):
        FrameRing.create(2, (648, 768), pixel_format="nv12")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="pixel_format"):
        VideoSource("cam1", str(asset(FOOTAGE)), detect_fps=5, pixel_format="rgb")  # type: ignore[arg-type]
    ring = FrameRing.create(2, (648, 768), pixel_format="i420")
    try:
        assert ring.spec.frame_hw == (432, 768) and ring.spec.frame_bytes == 648 * 768
    finally:
        ring.close()


def test_sources_in_other_formats_reach_the_ring_as_i420() -> None:
    """A GIF (palette frames, not 4:2:0) goes through swscale to I420; converted back it is the same picture
    up to the chroma subsampling."""
    path = str(asset("footage/classroom.gif"))
    a = VideoSource("cam1", path, detect_fps=5, pixel_format="i420")
    b = VideoSource("cam1", path, detect_fps=5)
    fa, fb = next(iter(a)), next(iter(b))
    assert fa.image.shape == i420.i420_shape(270, 480) and fa.wh == fb.wh == (480, 270)
    diff = np.abs(i420.to_bgr(fa.image).astype(np.int16) - fb.image.astype(np.int16))
    assert diff.mean() < 3 and np.percentile(diff, 50) <= 2  # U and V swapped: 14 and 8
