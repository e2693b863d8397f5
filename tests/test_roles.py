"""Who counts as staff: staff areas, post zones, counters, and the memory of tracks that stepped out."""

from __future__ import annotations

import numpy as np
import pytest

from detectors.roles import StaffRoles
from detectors.types import Detections
from detectors.zones import Zone

WH = (1000, 1000)
# Left: staff area behind the windows. Middle strip: post zones (seats). Right of it: counters. Far right: hall.
STAFF = Zone("staff", [[0.0, 0.0], [0.3, 0.0], [0.3, 1.0], [0.0, 1.0]])
POST = Zone("post", [[0.3, 0.0], [0.4, 0.0], [0.4, 0.5], [0.3, 0.5]])
COUNTER = Zone("counter", [[0.4, 0.0], [0.55, 0.0], [0.55, 0.5], [0.4, 0.5]])
SPOT = {"staff": 0.1, "post": 0.35, "counter": 0.5, "hall": 0.8}  # x of the feet, relative


def people(places: list[str], ids: list[int]) -> Detections:
    x = np.array([SPOT[p] for p in places]) * WH[0]
    y = np.full(len(x), 0.4 * WH[1])
    return Detections(np.c_[x - 20, y - 150, x + 20, y], np.ones(len(x)), np.zeros(len(x)), ids)


def roles(memory_s: float = 60.0, counters: list[Zone] | None = None) -> StaffRoles:
    return StaffRoles([STAFF, POST], [COUNTER] if counters is None else counters, memory_s=memory_s)


WHERE_NOW = [
    ("in the staff area", ["staff"], [True]),
    ("at a post", ["post"], [True]),
    ("citizen at the counter", ["counter"], [False]),
    ("citizen in the hall", ["hall"], [False]),
    ("a mix", ["hall", "staff", "counter", "post"], [False, True, False, True]),
]


@pytest.mark.parametrize("name,places,expected", WHERE_NOW, ids=[w[0] for w in WHERE_NOW])
def test_where_they_stand(name: str, places: list[str], expected: list[bool]) -> None:
    mask = roles().update(people(places, list(range(1, len(places) + 1))), WH, 0.0)
    assert mask.tolist() == expected


# (time s, where track 7 stands, staff?) with a 60 s memory.
WALK_OUT = [(0.0, "post", True), (10.0, "hall", True), (59.0, "counter", True), (61.0, "hall", False),
            (62.0, "staff", True), (100.0, "hall", True)]


def test_staff_who_walked_out_stays_staff_for_the_memory() -> None:
    r = roles(memory_s=60.0)
    got = [bool(r.update(people([where], [7]), WH, t)[0]) for t, where, _ in WALK_OUT]
    assert got == [w[2] for w in WALK_OUT]


def test_memory_is_per_track_and_forgets() -> None:
    r = roles(memory_s=5.0)
    r.update(people(["staff", "hall"], [1, 2]), WH, 0.0)
    assert r.known_ids.tolist() == [1]
    assert r.update(people(["hall", "hall"], [1, 2]), WH, 3.0).tolist() == [True, False]
    assert r.update(people(["hall", "hall"], [1, 2]), WH, 6.0).tolist() == [False, False]
    assert r.known_ids.tolist() == []


def test_untracked_people_count_only_where_they_stand() -> None:
    r = roles()
    assert r.update(people(["staff", "hall"], [-1, -1]), WH, 0.0).tolist() == [True, False]
    assert r.update(people(["hall"], [-1]), WH, 1.0).tolist() == [False]
    assert r.known_ids.tolist() == []


def test_counter_overlapping_a_staff_area_does_not_make_citizens_staff() -> None:
    sloppy = Zone("sloppy", [[0.0, 0.0], [0.6, 0.0], [0.6, 1.0], [0.0, 1.0]])  # covers the counter too
    r = StaffRoles([sloppy], [COUNTER], memory_s=60.0)
    assert r.update(people(["counter", "staff"], [1, 2]), WH, 0.0).tolist() == [False, True]
    # ...but staff known from before keep their role when they step to the counter.
    assert r.update(people(["counter", "counter"], [1, 2]), WH, 1.0).tolist() == [False, True]


def test_memory_zero_means_only_where_they_stand() -> None:
    r = roles(memory_s=0.0)
    assert r.update(people(["staff"], [3]), WH, 0.0).tolist() == [True]
    assert r.update(people(["hall"], [3]), WH, 0.2).tolist() == [False]


def test_empty_frame_and_bad_memory() -> None:
    assert roles().update(Detections.empty(), WH, 0.0).shape == (0,)
    with pytest.raises(ValueError, match="memory_s"):
        StaffRoles([STAFF], memory_s=-1)


def test_feet_past_the_frame_edge_count_at_the_edge() -> None:
    whole = Zone("whole", [[0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [0.0, 1.0]])
    xyxy = np.array([[100, 700, 200, 1000], [300, 800, 400, 1040], [900, 500, 1010, 990]], float)
    mask = StaffRoles([whole]).update(Detections(xyxy, np.ones(3), np.zeros(3), [1, 2, 3]), WH, 0.0)
    assert mask.tolist() == [True, True, True]
