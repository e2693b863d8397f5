"""The empty-post timer as tables over a fake clock: each row is (people_at_post, now, is_open)."""

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from detectors.config import EmptyPostRuleConfig, ScheduleConfig
from detectors.empty_post import EmptyPost
from detectors.schedule import Schedule
from detectors.types import EventSource

SRC = EventSource("site", "node", "cam1")
CFG = EmptyPostRuleConfig(after_s=10, clear_after_s=3, update_every_s=5, gap_tolerance_s=1)


def run(steps, cfg=CFG):
    rule = EmptyPost(SRC, "W1", cfg)
    out = []
    for n, now, is_open in steps:
        for ev in rule.update(n, now, is_open):
            out.append((ev.state, round(ev.t, 2)))
    return out, rule


def frames(n, t0, t1, fps=5, is_open=True):
    return [(n, t0 + k / fps, is_open) for k in range(int(round((t1 - t0) * fps)))]


@pytest.mark.parametrize(
    "name, steps, expected",
    [
        ("staffed throughout", frames(1, 0, 60), []),
        ("empty from opening", frames(0, 0, 12), [("start", 10.0)]),
        ("leaves, alert after after_s",
         frames(1, 0, 5) + frames(0, 5, 20), [("start", 14.8), ("update", 19.8)]),
        ("back: ends after clear_after_s",
         frames(0, 0, 12) + frames(1, 12, 20), [("start", 10.0), ("end", 15.0)]),
        ("back too briefly: alert continues",
         frames(0, 0, 12) + frames(1, 12, 14) + frames(0, 14, 16), [("start", 10.0), ("update", 15.0)]),
        ("a one-frame flicker while staffed does not reset anything",
         frames(1, 0, 5) + [(0, 5.0, True)] + frames(1, 5.2, 30), []),
        ("flicker of presence during an alert does not restart the clear timer",
         frames(0, 0, 12) + frames(1, 12, 13) + [(0, 13.0, True)] + frames(1, 13.2, 16),
         [("start", 10.0), ("end", 15.0)]),
        ("short absences below after_s never alert",
         (frames(1, 0, 5) + frames(0, 5, 12) + frames(1, 12, 20)) * 1, []),
    ],
)
def test_timer_table(name, steps, expected):
    events, _ = run(steps)
    assert events == expected, name


def test_hall_closing_ends_alert_and_opening_restarts_timer():
    steps = frames(0, 0, 12) + frames(0, 12, 20, is_open=False) + frames(0, 20, 29)
    events, rule = run(steps)
    # alert at 10, ended by closing at 12; after reopening at 20 the timer starts again: alert at 30 only
    assert events == [("start", 10.0), ("end", 12.0)]
    assert rule.state == "empty" and not rule.active
    assert run(steps + frames(0, 29, 31))[0][-1] == ("start", 30.0)


def test_no_alert_while_closed():
    events, rule = run(frames(0, 0, 100, is_open=False))
    assert events == [] and rule.state == "closed"


def test_event_contract_and_stable_id():
    events = []
    rule = EmptyPost(SRC, "W1", CFG)
    for n, now, o in frames(0, 0, 12) + frames(1, 12, 20):
        events += rule.update(n, now, o)
    start, end = events
    assert start.event_id == end.event_id
    assert start.window == "W1" and start.type == "empty_post" and start.camera == "cam1"
    assert end.details["reason"] == "staffed" and end.people == 1
    d = start.to_dict()
    assert set(d) == {"schema", "event_id", "type", "state", "site", "node", "camera", "window", "t",
                      "started_at", "score", "people", "details", "clip"}
    assert d["schema"] == 1 and d["details"]["empty_for_s"] == pytest.approx(10.0)


SHANGHAI = ZoneInfo("Asia/Shanghai")


def epoch(y, mo, d, h, mi):
    return datetime(y, mo, d, h, mi, tzinfo=SHANGHAI).timestamp()


@pytest.mark.parametrize(
    "when, is_open",
    [
        (epoch(2026, 11, 30, 8, 29), False),  # Monday, before opening
        (epoch(2026, 11, 30, 8, 30), True),
        (epoch(2026, 11, 30, 11, 59), True),
        (epoch(2026, 11, 30, 12, 0), False),  # lunch break
        (epoch(2026, 11, 30, 13, 30), True),
        (epoch(2026, 11, 30, 17, 30), False),
        (epoch(2026, 11, 29, 10, 0), False),  # Sunday
    ],
)
def test_schedule_boundaries(when, is_open):
    sched = Schedule(ScheduleConfig(timezone="Asia/Shanghai", open=["08:30-12:00", "13:30-17:30"],
                                    days=["mon", "tue", "wed", "thu", "fri"]))
    assert sched.is_open(when) is is_open


def test_schedule_absent_or_unknown_time_is_open():
    assert Schedule(None).is_open(0.0)
    assert Schedule(ScheduleConfig(open=["09:00-10:00"])).is_open(None)


def test_lunch_break_closes_alert_through_the_schedule():
    sched = Schedule(ScheduleConfig(timezone="Asia/Shanghai", open=["08:30-12:00", "13:30-17:30"]))
    t0 = epoch(2026, 11, 30, 11, 50)
    rule = EmptyPost(SRC, "W1", EmptyPostRuleConfig(after_s=300, clear_after_s=5))
    states = []
    for k in range(0, 1200, 5):  # 11:50 to 12:10, nobody at the post
        now = t0 + k
        states += [(e.state, e.details.get("reason")) for e in rule.update(0, now, sched.is_open(now))
                   if e.state != "update"]
    assert states == [("start", None), ("end", "closed")]
