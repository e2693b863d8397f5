"""Region building, merging and mapping back; the gating planner on synthetic frames (fake clock)."""

from __future__ import annotations

import numpy as np
import pytest

from detectors.gating import DetectionPlanner, GatedDetector, GatingConfig
from detectors.regions import (
    box_iou,
    build_regions,
    cluster_boxes,
    merge_detections,
    nms,
    pick_inputs,
    plan_crops,
    worth_full_frame,
)
from detectors.types import Detections

FRAME = (1280, 720)
CROP = (320, 320)
FULL = (640, 384)


def dets(boxes: list[list[float]], scores: list[float] | None = None, ids: list[int] | None = None) -> Detections:
    n = len(boxes)
    return Detections(np.array(boxes, np.float32).reshape(n, 4), np.array(scores or [0.9] * n, np.float32),
                      np.zeros(n, np.int32), None if ids is None else np.array(ids))


def covers(regions: np.ndarray, box: list[float]) -> bool:
    b = np.array(box)
    return bool(((regions[:, :2] <= b[:2]) & (regions[:, 2:] >= b[2:])).all(1).any())


@pytest.mark.parametrize(
    ("boxes", "n_regions"),
    [
        ([[100, 100, 160, 260]], 1),                                  # one person
        ([[100, 100, 160, 260], [170, 110, 230, 270]], 1),            # two side by side: one crop
        ([[100, 100, 160, 260], [1000, 400, 1060, 560]], 2),          # far apart: two crops
        ([[0, 0, 40, 80]], 1),                                        # at the corner: shifted inside
        ([[500, 100, 700, 700]], 1),                                  # tall person: one bigger crop
    ],
)
def test_build_regions_covers_every_box(boxes: list[list[float]], n_regions: int) -> None:
    regions = build_regions(np.array(boxes, np.float32), FRAME, CROP, pad_frac=0.1)
    assert len(regions) == n_regions
    for b in boxes:
        assert covers(regions, b)
    w, h = FRAME
    assert (regions[:, :2] >= 0).all() and (regions[:, 2] <= w).all() and (regions[:, 3] <= h).all()
    sizes = regions[:, 2:] - regions[:, :2]
    assert (sizes >= np.minimum(CROP, FRAME)).all()  # never smaller than the model input
    aspect = sizes[:, 0] / sizes[:, 1]
    assert np.allclose(aspect[(sizes < FRAME).all(1)], 1.0, atol=0.01)  # the model's aspect ratio


def test_no_boxes_no_regions() -> None:
    assert build_regions(np.zeros((0, 4), np.float32), FRAME, CROP).shape == (0, 4)


def test_cluster_respects_max_scale() -> None:
    boxes = np.array([[0, 0, 100, 100], [500, 0, 600, 100]], np.float32)
    assert len(cluster_boxes(boxes, CROP, max_scale=1.5)) == 2  # joint crop would be 600 px: 1.9x
    assert len(cluster_boxes(boxes, CROP, max_scale=2.0)) == 1


def test_duplicate_and_contained_regions_are_dropped() -> None:
    boxes = np.array([[0, 0, 30, 30], [5, 5, 35, 35], [2, 2, 20, 20]], np.float32)
    regions = build_regions(boxes, FRAME, CROP, max_scale=1.0)
    assert len(regions) == 1


@pytest.mark.parametrize(
    ("regions", "expected"),
    [
        ([], False),
        ([[0, 0, 320, 320]], False),
        ([[0, 0, 320, 320], [400, 0, 720, 320]], False),
        ([[0, 0, 320, 320], [400, 0, 720, 320], [800, 0, 1120, 320]], True),  # 3 crops cost >= a full pass
        ([[0, 0, 1200, 720]], True),  # covers most of the frame
    ],
)
def test_worth_full_frame(regions: list[list[int]], expected: bool) -> None:
    r = np.array(regions, np.int32).reshape(-1, 4)
    assert worth_full_frame(r, FRAME, CROP, FULL, max_regions=3) is expected


def test_one_crop_at_the_full_pass_cost_is_still_a_crop() -> None:
    r = np.array([[0, 0, 416, 416]], np.int32)
    assert not worth_full_frame(r, FRAME, (416, 416), (416, 416))
    assert worth_full_frame(np.concatenate([r, r + 500]), FRAME, (416, 416), (416, 416))


def test_merge_maps_back_and_removes_duplicates_from_overlapping_crops() -> None:
    regions = np.array([[100, 100, 420, 420], [300, 100, 620, 420]], np.int32)
    person = [350, 150, 410, 330]
    part_a = dets([[250, 50, 310, 230]], [0.8])     # the person seen in crop A (crop pixels)
    part_b = dets([[50, 50, 110, 230], [200, 10, 260, 120]], [0.9, 0.6])  # same person + another in crop B
    out = merge_detections([part_a, part_b], regions)
    assert len(out) == 2
    assert np.allclose(out.xyxy[out.confidence.argmax()], person)
    assert np.allclose(out.xyxy[out.confidence.argmin()], [500, 110, 560, 220])


def test_nms_drops_a_cut_off_part_inside_a_whole_person() -> None:
    whole = [100, 100, 160, 300]
    half = [100, 100, 160, 190]  # IoU 0.45 < 0.5 but fully inside the whole box
    out = nms(dets([half, whole], [0.7, 0.9]))
    assert len(out) == 1 and np.allclose(out.xyxy[0], whole)


def test_merge_rejects_mismatched_lengths() -> None:
    with pytest.raises(ValueError, match="regions"):
        merge_detections([Detections.empty()], np.zeros((2, 4), np.int32))


# ---- the planner -------------------------------------------------------------------------------------

def wall(box: tuple[int, int, int, int] | None = None) -> np.ndarray:
    img = np.full((720, 1280, 3), 120, np.uint8)
    if box:
        img[box[1]:box[3], box[0]:box[2]] = 20
    return img


def planner(**kw: float) -> DetectionPlanner:
    return DetectionPlanner(GatingConfig(**kw), crop_wh=CROP, full_wh=FULL)


def test_planner_full_first_then_skip_when_nothing_moves_then_full_again() -> None:
    p = planner(full_every_s=3.0)
    kinds = [p.plan(wall(), t * 0.2, Detections.empty()).kind for t in range(0, 20)]
    assert kinds[0] == "full"
    assert kinds[1:15] == ["skip"] * 14
    assert kinds[15] == "full"  # t = 3.0 s
    assert p.stats.inference_fraction == pytest.approx(2 / 20)


def test_planner_crops_around_motion_and_carries_people_elsewhere() -> None:
    p = planner(stationary_s=0.0)
    clerk = dets([[1000, 300, 1080, 560]], ids=[7])
    p.plan(wall(), 0.0, clerk)
    walker = (200, 200, 260, 400)
    plan = p.plan(wall(walker), 0.2, clerk)
    assert plan.kind == "regions"
    assert covers(plan.regions, list(walker))
    assert len(plan.carried) == 1 and np.allclose(plan.carried.xyxy[0], clerk.xyxy[0])
    assert plan.carried.tracker_id[0] == -1


def test_still_person_swaying_does_not_wake_the_detector_but_leaving_does() -> None:
    p = planner(stationary_s=0.5, recheck_s=100.0, full_every_s=100.0)
    seat = (600, 300, 680, 560)
    clerk = dets([list(seat)], ids=[3])
    for i in range(6):  # settle: the clerk's box stays put; the gate absorbs them
        p.plan(wall(seat), i * 0.2, clerk)
    sway = (610, 320, 640, 380)  # a small blob inside the clerk's box
    img = wall(seat)
    img[sway[1]:sway[3], sway[0]:sway[2]] = 200
    assert p.plan(img, 1.4, clerk).kind == "skip"
    gone = p.plan(wall(), 1.6, clerk)  # the post is empty now: big motion where the clerk was
    assert gone.kind == "regions" and covers(gone.regions, list(seat))
    assert len(gone.carried) == 0  # not carried: the crop decides
    assert len(p.combine(gone, Detections.empty())) == 0


def test_moving_track_is_looked_at_without_motion() -> None:
    p = planner(stationary_s=1.0)
    p.plan(wall(), 0.0, Detections.empty())
    plan = p.plan(wall(), 0.2, dets([[100, 100, 160, 260]], ids=[1]))
    assert plan.kind == "regions"


def test_disabled_gating_is_full_frame_every_time() -> None:
    p = planner(enabled=False)
    assert {p.plan(wall(), t * 0.2).kind for t in range(5)} == {"full"}


class BoxDetector:
    """A deterministic stand-in detector for unit tables: finds dark rectangles (value < 50) in its input."""

    def __init__(self, input_hw: tuple[int, int]) -> None:
        self.input_hw = input_hw
        self.calls = 0

    def __call__(self, image: np.ndarray) -> Detections:
        self.calls += 1
        ys, xs = np.nonzero(image[..., 0] < 50)
        if len(xs) == 0:
            return Detections.empty()
        return dets([[xs.min(), ys.min(), xs.max() + 1, ys.max() + 1]])

    def detect_batch(self, images: list[np.ndarray]) -> list[Detections]:
        return [self(i) for i in images]


def test_gated_detector_finds_the_same_person_as_full_frame() -> None:
    full, crop = BoxDetector((384, 640)), BoxDetector((320, 320))
    g = GatedDetector(full, crop, GatingConfig(recheck_s=100.0, full_every_s=100.0))
    g(wall(), 0.0)
    for i, x in enumerate(range(100, 400, 60)):
        box = (x, 200, x + 60, 420)
        out = g(wall(box), 0.2 * (i + 1))
        assert len(out) == 1 and box_iou(out.xyxy, np.array([box], np.float32))[0, 0] > 0.99
    assert crop.calls >= 4 and full.calls == 1


def test_merge_prefers_the_whole_person_over_a_crop_cut_one() -> None:
    regions = np.array([[0, 100, 320, 200], [0, 100, 320, 420]], np.int32)
    cut = dets([[50, 20, 110, 100]], [0.95])     # touches crop A's bottom edge (y = 200 in the frame)
    whole = dets([[50, 20, 110, 200]], [0.80])
    out = merge_detections([cut, whole], regions, frame_wh=FRAME)
    assert len(out) == 1 and np.allclose(out.xyxy[0], [50, 120, 110, 300])


def test_motion_in_a_crop_that_held_nobody_waits_for_empty_recheck() -> None:
    """A flickering screen: the first crop finds nobody; the same motion is then ignored for
    `empty_recheck_s` seconds, and looked at again after that."""
    p = planner(empty_recheck_s=1.0, full_every_s=100.0)
    p.plan(wall(), 0.0, Detections.empty())
    kinds = []
    for i in range(1, 9):
        img = wall()
        img[100:160, 100:180] = 255 if i % 2 else 0  # blinking, never absorbed by the background
        plan = p.plan(img, i * 0.2, Detections.empty())
        p.combine(plan, Detections.empty())
        kinds.append(plan.kind)
    assert kinds[0] == "regions"
    assert kinds[1:5] == ["skip"] * 4  # 0.4 .. 1.0 s
    assert "regions" in kinds[5:]  # re-checked after 1 s


def test_motion_elsewhere_is_not_absorbed_by_an_empty_crop() -> None:
    p = planner(empty_recheck_s=5.0, full_every_s=100.0)
    p.plan(wall(), 0.0, Detections.empty())
    p.combine(p.plan(wall((100, 100, 160, 260)), 0.2, Detections.empty()), Detections.empty())
    assert p.plan(wall((900, 300, 960, 460)), 0.4, Detections.empty()).kind == "regions"


def test_still_people_are_rechecked_in_crops_every_recheck_s() -> None:
    p = planner(stationary_s=0.0, recheck_s=1.0, full_every_s=100.0)
    clerk = dets([[600, 300, 680, 560]], ids=[3])
    kinds = [p.plan(wall(), i * 0.2, clerk).kind for i in range(11)]
    assert kinds[0] == "full"
    assert kinds[1:5] == ["skip"] * 4
    assert kinds[5] == "regions" and kinds[10] == "regions"  # at 1.0 s and 2.0 s


def test_person_still_from_the_start_is_carried_before_the_tracker_confirms_them() -> None:
    """The tracker shows people only once confirmed; the planner carries what was detected meanwhile, looks
    again while they have no id, and lets them rest (no inference) once they are tracked and still."""
    p = planner(stationary_s=0.4, full_every_s=100.0, recheck_s=100.0)
    seat = [600.0, 300.0, 680.0, 560.0]
    first = p.plan(wall(), 0.0, Detections.empty())
    assert first.kind == "full"
    p.combine(first, dets([seat]))
    kinds = []
    for i in range(1, 8):
        tracks = dets([seat], ids=[5]) if i >= 2 else Detections.empty()  # confirmed from the 2nd frame on
        plan = p.plan(wall(), i * 0.2, tracks)
        kinds.append(plan.kind)
        out = p.combine(plan, dets([seat]) if plan.kind != "skip" else Detections.empty())
        assert len(out) == 1 and np.allclose(out.xyxy[0], seat)  # never lost
    assert kinds[0] == "regions"  # no id yet: looked at again
    assert kinds[-1] == "skip"  # tracked and still: carried without inference


# ---- crops at several input sizes --------------------------------------------------------------------

SHAPES = [(160, 160), (224, 224), (320, 320)]


@pytest.mark.parametrize(
    ("wh", "max_scale", "expected"),
    [
        ((100, 150), 1.0, (160, 160)),   # fits the smallest input at full resolution
        ((100, 200), 1.0, (224, 224)),
        ((100, 300), 1.0, (320, 320)),
        ((100, 300), 2.0, (160, 160)),   # 300 px shown at 160 is a downscale of 1.9, allowed at 2
        ((200, 440), 2.0, (224, 224)),   # 440 / 224 = 1.96
        ((200, 460), 2.0, (320, 320)),   # 460 / 224 = 2.05: the next input
        ((200, 900), 2.0, (320, 320)),   # too big for any at 2: the largest
    ],
)
def test_each_crop_gets_the_smallest_input_within_max_scale(wh, max_scale, expected) -> None:
    shapes = np.array(SHAPES, np.int32)
    assert tuple(shapes[pick_inputs(np.array([wh], np.float32), shapes, max_scale)[0]]) == expected


@pytest.mark.parametrize("max_scale", [1.0, 1.5, 2.0])
@pytest.mark.parametrize(
    "boxes",
    [
        [[600, 300, 640, 380]],                              # a small blob (a hand, a head)
        [[100, 100, 160, 260]],                              # one person
        [[500, 100, 700, 700]],                              # a tall person near the camera
        [[100, 100, 160, 260], [1000, 400, 1060, 560]],      # two people far apart
        [[0, 0, 40, 80], [1240, 640, 1280, 720]],            # at the corners
    ],
)
def test_plan_crops_covers_every_box_without_upscaling_or_downscaling_past_max_scale(boxes, max_scale) -> None:
    b = np.array(boxes, np.float32)
    regions, inputs = plan_crops(b, FRAME, SHAPES, pad_frac=0.1, max_scale=max_scale)
    assert len(regions) == len(inputs) >= 1
    assert {tuple(i) for i in inputs.tolist()} <= set(SHAPES)
    for box in boxes:
        assert covers(regions, box)
    size = regions[:, 2:] - regions[:, :2]
    assert (size >= np.minimum(inputs, FRAME)).all()  # never upscaled: the window is at least the input
    scale = (size / inputs).max(axis=1)
    single_huge = (b[:, 3] - b[:, 1]).max() * 1.2 > 320 * max_scale
    assert single_huge or (scale <= max_scale + 0.01).all()


def test_small_blobs_far_apart_get_two_small_crops_not_one_big_one() -> None:
    boxes = np.array([[100, 100, 150, 180], [500, 120, 550, 200]], np.float32)
    regions, inputs = plan_crops(boxes, FRAME, SHAPES, pad_frac=0.1, max_scale=2.0)
    assert inputs.tolist() == [[160, 160], [160, 160]]  # 2 x 160^2 < one 320^2 crop over both
    near = np.array([[100, 100, 150, 180], [170, 110, 220, 190]], np.float32)
    regions, inputs = plan_crops(near, FRAME, SHAPES, pad_frac=0.1, max_scale=2.0)
    assert inputs.tolist() == [[160, 160]]  # side by side: one crop holds both for the price of one


def test_with_one_input_size_plan_crops_is_build_regions() -> None:
    boxes = np.array([[100, 100, 160, 260], [170, 110, 230, 270], [1000, 400, 1060, 560]], np.float32)
    regions, inputs = plan_crops(boxes, FRAME, [CROP], max_scale=1.5)
    assert np.array_equal(regions, build_regions(boxes, FRAME, CROP, max_scale=1.5))
    assert (inputs == CROP).all()


def test_small_crops_are_cheaper_than_a_full_pass_where_big_ones_are_not() -> None:
    r = np.array([[0, 0, 160, 160], [400, 0, 560, 160], [800, 0, 960, 160]], np.int32)
    small = np.array([[160, 160]] * 3, np.int32)
    assert not worth_full_frame(r, FRAME, CROP, FULL, max_regions=3, inputs=small)
    assert worth_full_frame(r, FRAME, CROP, FULL, max_regions=3, inputs=np.array([[320, 320]] * 3, np.int32))


def test_planner_runs_crops_at_the_inputs_it_was_given_and_downscales_like_the_full_pass() -> None:
    p = DetectionPlanner(GatingConfig(), crop_wh=CROP, full_wh=FULL, crop_shapes=SHAPES[:2])
    assert p.max_scale(FRAME) == 2.0  # 1280x720 into 640x384
    assert p.max_scale((768, 432)) == pytest.approx(1.2)
    assert DetectionPlanner(GatingConfig(max_scale=1.3), crop_wh=CROP, full_wh=FULL).max_scale(FRAME) == 1.3
    p.plan(wall(), 0.0)
    head = p.plan(wall((600, 300, 640, 360)), 0.2)
    assert head.kind == "regions" and head.inputs.tolist() == [[160, 160]]
    assert p.stats.crop_inputs == {"160x160": 1}
    p = DetectionPlanner(GatingConfig(), crop_wh=CROP, full_wh=FULL, crop_shapes=SHAPES[:2])
    p.plan(wall(), 0.0)
    person = p.plan(wall((200, 200, 300, 480)), 0.2)  # blob ~316 px tall, ~410 padded: 224 at a downscale of 1.8
    assert person.kind == "regions" and person.inputs.tolist() == [[224, 224]]
    size = person.regions[0, 2:] - person.regions[0, :2]
    assert 280 <= size.max() <= 2.0 * 224


def test_full_offset_moves_the_first_periodic_full_pass_earlier() -> None:
    kinds = {}
    for offset in (0.0, 1.0):
        p = DetectionPlanner(GatingConfig(full_every_s=3.0), crop_wh=CROP, full_wh=FULL, full_offset_s=offset)
        kinds[offset] = [p.plan(wall(), t * 0.2).kind for t in range(0, 26)]
    full_at = {o: [i * 0.2 for i, k in enumerate(ks) if k == "full"] for o, ks in kinds.items()}
    assert full_at[0.0] == pytest.approx([0.0, 3.0])
    assert full_at[1.0] == pytest.approx([0.0, 2.0, 5.0])  # then every 3 s as before


class SizedBoxDetector(BoxDetector):
    """BoxDetector that runs at several input sizes and records them (like models.PersonDetector)."""

    def __init__(self, input_hw: tuple[int, int]) -> None:
        super().__init__(input_hw)
        self.sizes = [input_hw]
        self.seen: list[tuple[int, int]] = []

    def add_sizes(self, sides: list[int]) -> list[tuple[int, int]]:
        self.sizes += [(s, s) for s in sides if (s, s) not in self.sizes]
        return self.sizes

    def __call__(self, image: np.ndarray, input_hw: tuple[int, int] | None = None) -> Detections:
        self.seen.append(input_hw or self.input_hw)
        return super().__call__(image)

    def detect_batch(self, images: list[np.ndarray], input_hw: tuple[int, int] | None = None) -> list[Detections]:
        return [self(i, input_hw) for i in images]


def test_gated_detector_runs_small_motion_at_a_small_input_and_finds_it() -> None:
    full, crop = BoxDetector((384, 640)), SizedBoxDetector((320, 320))
    g = GatedDetector(full, crop, GatingConfig(crop_sizes=[160, 224], recheck_s=100.0, full_every_s=100.0))
    g(wall(), 0.0)
    box = (600, 300, 640, 360)
    out = g(wall(box), 0.2)
    assert crop.seen == [(160, 160)]
    assert len(out) == 1 and box_iou(out.xyxy, np.array([box], np.float32))[0, 0] > 0.99
