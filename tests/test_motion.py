"""Motion gate on synthetic frames: a fake clock, no sleeps."""

from __future__ import annotations

import numpy as np
import pytest

from detectors.motion import MotionConfig, MotionGate

W, H = 640, 360


def scene(box: tuple[int, int, int, int] | None = None, level: int = 90, seed: int = 0) -> np.ndarray:
    """A grey textured wall with an optional dark 'person' rectangle (x1, y1, x2, y2) in pixels."""
    rng = np.random.default_rng(seed)
    img = np.full((H, W, 3), level, np.uint8)
    img += rng.integers(0, 4, size=(H, W, 1), dtype=np.uint8)  # mild sensor noise, below the threshold
    if box is not None:
        x1, y1, x2, y2 = box
        img[y1:y2, x1:x2] = 20
    return img


def test_first_frame_is_warmup_and_static_scene_has_no_motion() -> None:
    gate = MotionGate()
    first = gate.update(scene(), 0.0)
    assert first.warmup and not first.moving
    for i in range(1, 6):
        r = gate.update(scene(seed=i), i * 0.2)
        assert not r.moving and not r.warmup and not r.global_change


@pytest.mark.parametrize("box", [(100, 80, 160, 260), (400, 50, 470, 300), (0, 0, 50, 120)])
def test_new_object_gives_a_box_around_it_in_frame_pixels(box: tuple[int, int, int, int]) -> None:
    gate = MotionGate()
    gate.update(scene(), 0.0)
    r = gate.update(scene(box), 0.2)
    assert len(r.boxes_xyxy) == 1
    got = r.boxes_xyxy[0]
    tol = 12  # blur + dilation on the 180-row frame grow the blob by a few small pixels (x2 in frame pixels)
    assert np.all(np.abs(got - np.array(box, np.float32)) <= tol), (got, box)
    assert 0 < r.fraction < 0.2


def test_tiny_blobs_below_min_area_are_ignored() -> None:
    gate = MotionGate(MotionConfig(min_area_frac=0.01))
    gate.update(scene(), 0.0)
    r = gate.update(scene((300, 100, 306, 106)), 0.2)
    assert not r.moving


def test_background_absorbs_a_change_that_stays() -> None:
    """An object that stays still fades into the background after a few time constants (by timestamps)."""
    cfg = MotionConfig(background_tau_s=1.0)
    gate = MotionGate(cfg)
    gate.update(scene(), 0.0)
    box = (200, 100, 280, 300)
    assert gate.update(scene(box), 0.2).moving
    t, r = 0.2, None
    while t < 8.0:
        t += 0.2
        r = gate.update(scene(box), t)
    assert r is not None and not r.moving


def test_same_behaviour_at_any_analysis_rate() -> None:
    """The background adapts by seconds, not frames: 2 fps and 10 fps absorb a change at about the same time."""
    box = (200, 100, 280, 300)

    def absorbed_at(fps: float) -> float:
        gate = MotionGate(MotionConfig(background_tau_s=1.0))
        gate.update(scene(), 0.0)
        t = 0.0
        while True:
            t += 1.0 / fps
            if not gate.update(scene(box), t).moving:
                return t

    assert abs(absorbed_at(2.0) - absorbed_at(10.0)) <= 0.6


def test_global_change_resets_background() -> None:
    gate = MotionGate()
    gate.update(scene(level=90), 0.0)
    r = gate.update(scene(level=200), 0.2)  # lights switched on
    assert r.global_change and not r.moving
    assert not gate.update(scene(level=200, seed=3), 0.4).moving


def test_new_frame_size_restarts() -> None:
    gate = MotionGate()
    gate.update(scene(), 0.0)
    assert gate.update(np.zeros((180, 320, 3), np.uint8), 0.2).warmup


@pytest.mark.parametrize("kw", [{"blur_px": 4}, {"threshold": 0}, {"background_tau_s": 0}])
def test_bad_settings_are_rejected(kw: dict) -> None:
    with pytest.raises(ValueError):
        MotionGate(MotionConfig(**kw))
