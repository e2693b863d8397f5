"""The chatting rule on synthetic tracks: tables of gatherings on the floor (metres), then the per-camera
stage on a calibrated synthetic camera (pixels, zones, roles)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

from detectors.chatting import ChattingRule, component_labels, staff_groups
from detectors.chatting_stage import ChattingStage, PositionHold
from detectors.config import ChattingRuleConfig, FloorConfig
from detectors.types import Detections, Event, EventSource
from tests.floor_cameras import boxes_of_people, camera_matrix, project

SRC = EventSource("site", "node", "cam")
FPS = 5.0
# A path gives a person's floor position (x, y) in metres at time t, or None while they are not seen.
Path = Callable[[float], tuple[float, float] | None]


def cfg(**kw: float) -> ChattingRuleConfig:
    base = {"min_people": 3, "radius_m": 1.5, "after_s": 10.0, "clear_after_s": 3.0, "update_every_s": 1000.0}
    return ChattingRuleConfig(**{**base, **kw})


def at(x: float, y: float, t0: float = -1e9, t1: float = 1e9) -> Path:
    return lambda t: (x, y) if t0 <= t < t1 else None


def seq(*parts: tuple[float, Path]) -> Path:
    """Follow parts[i] from its start time until the next part's start time."""
    def path(t: float) -> tuple[float, float] | None:
        chosen = None
        for start, p in parts:
            if t >= start:
                chosen = p
        return chosen(t) if chosen else None
    return path


def run(rule: ChattingRule, paths: dict[int, Path], t_end: float, *, staff: Callable[[int, float], bool] | None = None,
        tracked: bool = True) -> list[Event]:
    events: list[Event] = []
    for t in np.arange(0.0, t_end, 1.0 / FPS):
        t = round(float(t), 3)
        seen = [(i, p(t)) for i, p in paths.items() if p(t) is not None]
        ids = np.array([i for i, _ in seen], np.int64)
        pts = np.array([xy for _, xy in seen], np.float64).reshape(-1, 2)
        mask = np.array([True if staff is None else staff(i, t) for i in ids], bool)
        events += rule.update(pts, mask, t, ids if tracked else None)
    return events


def states(events: list[Event]) -> list[tuple[str, float]]:
    return [(e.state, round(e.t, 1)) for e in events]


TRIO = {1: at(0.0, 0.0), 2: at(1.0, 0.0), 3: at(0.5, 0.8)}
AWAY = (20.0, 20.0)


def trio_until(t_leave: float, dip: tuple[float, float] | None = None) -> dict[int, Path]:
    """Three staff together from t=0 until t_leave, person 3 stepping away during `dip`."""
    paths = {i: seq((0.0, p), (t_leave, at(*AWAY) if i == 1 else at(40.0 + 5 * i, 0.0))) for i, p in TRIO.items()}
    if dip:
        paths[3] = seq((0.0, TRIO[3]), (dip[0], at(5.0, 5.0)), (dip[1], TRIO[3]), (t_leave, at(60.0, 0.0)))
    return paths


TIMELINES = [
    # name, paths, run until, config overrides, expected (state, t)
    ("forms and breaks up", trio_until(30.0), 40.0, {}, [("start", 10.0), ("end", 33.0)]),
    ("brief dip while alerting", trio_until(30.0, dip=(15.0, 17.0)), 40.0, {}, [("start", 10.0), ("end", 33.0)]),
    ("long dip ends, regroup is a new event", trio_until(40.0, dip=(15.0, 20.0)), 50.0, {},
     [("start", 10.0), ("end", 18.0), ("start", 30.0), ("end", 43.0)]),
    ("brief dip while pending keeps the clock", trio_until(30.0, dip=(4.0, 6.0)), 40.0, {},
     [("start", 10.0), ("end", 33.0)]),
    ("long dip while pending restarts it", trio_until(30.0, dip=(4.0, 8.0)), 40.0, {},
     [("start", 18.0), ("end", 33.0)]),
    ("too short to alert", trio_until(8.0), 20.0, {}, []),
    ("periodic updates", trio_until(30.0), 40.0, {"update_every_s": 7.0},
     [("start", 10.0), ("update", 17.0), ("update", 24.0), ("end", 33.0)]),
    ("clear_after 0 ends at once", trio_until(30.0), 40.0, {"clear_after_s": 0.0}, [("start", 10.0), ("end", 30.0)]),
    ("two pairs are not a group", {1: at(0, 0), 2: at(1, 0), 3: at(6, 0), 4: at(7, 0)}, 30.0, {}, []),
    ("a chain is one group", {1: at(0, 0), 2: at(1.4, 0), 3: at(2.8, 0)}, 15.0, {}, [("start", 10.0)]),
    ("a gap just over the radius", {1: at(0, 0), 2: at(1.4, 0), 3: at(2.91, 0)}, 15.0, {}, []),
    ("four with min_people 4", {1: at(0, 0), 2: at(1, 0), 3: at(0, 1), 4: at(1, 1)}, 15.0, {"min_people": 4},
     [("start", 10.0)]),
    ("members change, the group stays", {1: at(0, 0), 2: at(1, 0), 3: at(0.5, 0.8, t1=6.0),
                                          4: at(0.5, -0.8, t0=5.0)}, 15.0, {}, [("start", 10.0)]),
    ("every id switches at once (occlusion)", {1: at(0, 0, t1=5), 2: at(1, 0, t1=5), 3: at(0.5, 0.8, t1=5),
                                                11: at(0.1, 0, t0=5), 12: at(1.1, 0, t0=5),
                                                13: at(0.6, 0.8, t0=5)}, 15.0, {}, [("start", 10.0)]),
]


@pytest.mark.parametrize("name,paths,t_end,overrides,expected", TIMELINES, ids=[t[0] for t in TIMELINES])
def test_timelines(name: str, paths: dict[int, Path], t_end: float, overrides: dict, expected: list) -> None:
    assert states(run(ChattingRule(SRC, cfg(**overrides)), paths, t_end)) == expected


def test_one_event_id_per_gathering_with_details() -> None:
    events = run(ChattingRule(SRC, cfg(update_every_s=5.0)), trio_until(30.0), 40.0)
    assert len({e.event_id for e in events}) == 1
    start = events[0]
    assert (start.type, start.window, start.people) == ("chatting", None, 3)
    np.testing.assert_allclose(start.details["centroid_m"], [0.5, 0.27], atol=0.01)
    assert start.details["members"] == [1, 2, 3]
    assert start.details["gathering_since"] == 0.0 and start.started_at == 10.0
    assert events[-1].details["reason"] == "dispersed" and events[-1].details["max_people"] == 3


def test_two_gatherings_at_once_get_two_ids() -> None:
    paths = {**TRIO, 4: at(10, 0), 5: at(11, 0), 6: at(10.5, 0.8)}
    events = run(ChattingRule(SRC, cfg()), paths, 12.0)
    assert states(events) == [("start", 10.0), ("start", 10.0)]
    assert events[0].event_id != events[1].event_id
    assert sorted(e.details["centroid_m"][0] for e in events) == [0.5, 10.5]


def test_untracked_people_follow_the_centroid() -> None:
    events = run(ChattingRule(SRC, cfg()), trio_until(30.0, dip=(15.0, 17.0)), 40.0, tracked=False)
    assert states(events) == [("start", 10.0), ("end", 33.0)]


def test_non_staff_do_not_count_or_bridge() -> None:
    citizens = {1: at(0, 0), 2: at(1, 0), 3: at(0.5, 0.8)}
    assert run(ChattingRule(SRC, cfg()), citizens, 15.0, staff=lambda i, t: False) == []
    # Two staff with a citizen between them: the citizen neither counts nor links them.
    line = {1: at(0, 0), 2: at(1.4, 0), 3: at(2.8, 0), 4: at(1.4, 1.0)}
    assert run(ChattingRule(SRC, cfg()), line, 15.0, staff=lambda i, t: i != 2) == []


def test_members_stay_staff_while_in_the_gathering() -> None:
    """Roles forget the three after 2 s (memory ran out) but they are still gathered: the alert comes."""
    events = run(ChattingRule(SRC, cfg()), trio_until(30.0), 40.0, staff=lambda i, t: t < 2.0)
    assert states(events) == [("start", 10.0), ("end", 33.0)]
    # ...even when one of them steps 3 m aside for a moment (a dip shorter than clear_after_s) and comes back.
    events = run(ChattingRule(SRC, cfg()), trio_until(30.0, dip=(5.0, 6.0)), 40.0, staff=lambda i, t: t < 2.0)
    assert states(events) == [("start", 10.0), ("end", 33.0)]
    # A non-staff newcomer to a pending group is not made staff by standing next to it.
    paths = {**trio_until(30.0), 9: at(0.5, -0.8)}
    events = run(ChattingRule(SRC, cfg(min_people=4)), paths, 20.0, staff=lambda i, t: i != 9)
    assert events == []


def test_unplaced_people_are_left_out_and_close_ends_alerts() -> None:
    rule = ChattingRule(SRC, cfg())
    pts = np.array([[0, 0], [1, 0], [np.nan, np.nan]])
    assert rule.update(pts, np.ones(3, bool), 0.0, np.array([1, 2, 3])) == []
    assert [g.size for g in staff_groups(pts, np.ones(3, bool), np.array([1, 2, 3]), 1.5)] == [2]
    events = run(rule, TRIO, 12.0)
    assert states(events) == [("start", 10.0)] and rule.active == 1
    end = rule.close(12.0)
    assert states(end) == [("end", 12.0)] and end[0].details["reason"] == "source_ended"
    assert end[0].event_id == events[0].event_id and rule.active == 0


def test_groups_are_connected_components() -> None:
    pts = np.array([[0, 0], [1, 0], [2, 0], [10, 0], [11, 0], [30, 0]], float)
    groups = staff_groups(pts, np.ones(6, bool), np.arange(6), 1.5)
    assert [g.index.tolist() for g in groups] == [[0, 1, 2], [3, 4], [5]]
    assert staff_groups(np.zeros((0, 2)), np.zeros(0, bool), np.zeros(0, np.int64), 1.5) == []


def _bfs_labels(adj: np.ndarray) -> list[int]:
    """Reference: lowest index of each node's component, by breadth-first search."""
    labels = [-1] * len(adj)
    for start in range(len(adj)):
        if labels[start] < 0:
            todo = [start]
            while todo:
                k = todo.pop()
                if labels[k] < 0:
                    labels[k] = start
                    todo += [int(j) for j in np.flatnonzero(adj[k])]
    return labels


@pytest.mark.parametrize("n,radius", [(1, 1.0), (7, 1.0), (40, 1.2), (120, 0.8), (60, 30.0)])
def test_component_labels_match_a_graph_search(n: int, radius: float) -> None:
    pts = np.random.default_rng(n).uniform(0, 10, (n, 2))
    adj = np.linalg.norm(pts[:, None] - pts[None], axis=-1) <= radius
    assert component_labels(adj).tolist() == _bfs_labels(adj)


# --- the per-camera stage on a calibrated synthetic camera ---------------------------------------------
W, H = 640, 360
P = camera_matrix(W, H, cam_y_m=-2.0, hfov_deg=90.0)
CAM = P[:, [0, 1, 3]]


def rel(poly_m: list[list[float]]) -> list[list[float]]:
    return (project(CAM, np.array(poly_m, float)) / [W, H]).round(4).tolist()


FLOOR = FloorConfig(image=rel([[-3, 1], [3, 1], [3, 6], [-3, 6]]), metres=[[-3, 1], [3, 1], [3, 6], [-3, 6]])
STAFF_AREA = rel([[-3, 1], [-1.5, 1], [-1.5, 6], [-3, 6]])  # behind the windows, left of the counters
COUNTER = rel([[-1.0, 1], [0.5, 1], [0.5, 6], [-1.0, 6]])  # citizens' side; the hall is to the right


def stage_run(paths: dict[int, Path], t_end: float, memory_s: float = 60.0, hold_s: float = 3.0,
              cut: Callable[[int, float], float] = lambda i, t: 0.0) -> list[Event]:
    """Run the stage on boxes of 1.7 m people standing on the paths; `cut(id, t)` px are cut off a box's
    bottom (its feet hidden by someone in front)."""
    stage = ChattingStage.build(SRC, cfg(staff_memory_s=memory_s, occlusion_hold_s=hold_s), FLOOR,
                                staff_areas=[STAFF_AREA], counters=[COUNTER])
    events: list[Event] = []
    for t in np.arange(0.0, t_end, 1.0 / FPS):
        t = round(float(t), 3)
        seen = [(i, p(t)) for i, p in paths.items() if p(t) is not None]
        xyxy = boxes_of_people(P, np.array([xy for _, xy in seen], float))
        xyxy[:, 3] -= np.array([cut(i, t) for i, _ in seen]).reshape(-1)
        people = Detections(xyxy, np.ones(len(seen)), np.zeros(len(seen)), [i for i, _ in seen])
        events += stage.update(people, (W, H), t)
    if not any(cut(i, t) for i, _ in seen):
        np.testing.assert_allclose(stage.last_points_m, [xy for _, xy in seen], atol=1e-3)
    return events


def walk(a: tuple[float, float], b: tuple[float, float], t0: float, t1: float) -> Path:
    def path(t: float) -> tuple[float, float]:
        f = min(max((t - t0) / (t1 - t0), 0.0), 1.0)
        return (a[0] + f * (b[0] - a[0]), a[1] + f * (b[1] - a[1]))
    return path


def test_stage_citizens_at_counters_do_not_gather() -> None:
    queue = {1: at(-0.8, 2.0), 2: at(0.0, 2.0), 3: at(-0.4, 2.8)}
    assert stage_run(queue, 20.0) == []


def test_stage_staff_in_staff_area_gather() -> None:
    staff = {1: at(-2.7, 2.2), 2: at(-2.1, 2.5), 3: at(-1.6, 2.2)}
    assert states(stage_run(staff, 12.0)) == [("start", 10.0)]


def test_stage_staff_who_walked_out_still_gather() -> None:
    """Three staff leave the staff area at t=2, walk for 3 s into the hall and chat there. The role memory
    (4 s) runs out long before after_s (10 s): they stay counted because they stay in the gathering."""
    out = {i: walk((-2.5, 1.5 + i), (0.9 + 0.6 * i, 2.5 + 0.3 * (i % 2)), 2.0, 5.0) for i in (1, 2, 3)}
    events = stage_run(out, 20.0, memory_s=4.0)
    assert states(events) == [("start", 10.0)]
    np.testing.assert_allclose(events[0].details["centroid_m"], [2.1, 2.7], atol=0.05)


def test_stage_two_staff_and_a_citizen_are_not_a_gathering() -> None:
    mixed = {1: at(1.5, 2.8), 2: at(2.1, 2.5), 3: at(2.7, 2.8)}
    staff_then_out = {i: seq((0.0, at(-2.5, 2.0 + i)), (1.0, p)) for i, p in mixed.items() if i != 3}
    assert stage_run({**staff_then_out, 3: mixed[3]}, 20.0) == []


def test_stage_hidden_feet_keep_their_last_position() -> None:
    """Staff 3 stands behind the others; from t=3 to t=7 a citizen (9) stands in front of them, hiding their
    feet: the box is cut 40 px short, which alone would place them metres farther back."""
    group = {1: at(1.3, 2.0), 2: at(2.5, 2.0), 3: at(1.9, 2.9), 9: at(1.7, 1.9, t0=3.0, t1=7.0)}
    staff = {i: seq((0.0, at(-2.5, 2.0)), (0.2, p)) for i, p in group.items() if i != 9}
    paths = {**staff, 9: group[9]}

    def hide(i: int, t: float) -> float:
        return 40.0 if i == 3 and 3.0 <= t < 7.0 else 0.0

    assert states(stage_run(paths, 12.0, hold_s=5.0, cut=hide)) == [("start", 10.0)]
    # Without the hold the hidden person drops out (NaN) for 4 s, longer than clear_after_s: the pending
    # gathering is forgotten and starts again at t=7.
    assert states(stage_run(paths, 18.0, hold_s=0.0, cut=hide)) == [("start", 17.0)]


def test_position_hold_table() -> None:
    hold = PositionHold(2.0)
    ids = np.array([5, 3, -1])
    pts = np.array([[1.0, 1.0], [2.0, 2.0], [3.0, 3.0]])
    out = hold.apply(ids, pts, np.array([False, False, False]), 0.0)
    np.testing.assert_array_equal(out, pts)
    # Next frame, in a different order: 3 and the untracked one are hidden; 3 keeps (2, 2), -1 is unknown.
    out = hold.apply(np.array([3, -1, 5]), np.array([[9.0, 9.0], [9.0, 9.0], [1.5, 1.0]]),
                     np.array([True, True, False]), 1.0)
    np.testing.assert_array_equal(out[0], [2.0, 2.0])
    assert np.isnan(out[1]).all()
    np.testing.assert_array_equal(out[2], [1.5, 1.0])
    # Past hold_s since 3 was last seen with its feet visible, it is unknown too.
    out = hold.apply(np.array([3]), np.array([[9.0, 9.0]]), np.array([True]), 2.5)
    assert np.isnan(out).all()
