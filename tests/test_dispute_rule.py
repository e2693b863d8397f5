"""Table tests of the fused dispute rule: audio summary x counter people/motion x time (fake clock)."""

from __future__ import annotations

import pytest

from detectors.config import DisputeRuleConfig
from detectors.dispute import DisputeRule, WindowAudio
from detectors.types import EventSource

SRC = EventSource("site", "node", "cam1")
STEP = 0.5
LOUD = WindowAudio(over_db=18.0, speech_prob=0.9, pitch_ratio=1.4, flatness=0.02, level_db=-14.0)
CALM = WindowAudio(over_db=1.0, speech_prob=0.9, pitch_ratio=1.0, flatness=0.02, level_db=-32.0)
NOISE = WindowAudio(over_db=20.0, speech_prob=0.2, pitch_ratio=None, flatness=0.6, level_db=-12.0)
FLAT_SPEECH = WindowAudio(over_db=20.0, speech_prob=0.9, pitch_ratio=None, flatness=0.5, level_db=-12.0)
LOW_PITCH = WindowAudio(over_db=18.0, speech_prob=0.9, pitch_ratio=0.7, flatness=0.02, level_db=-14.0)
NO_PITCH = WindowAudio(over_db=18.0, speech_prob=0.9, pitch_ratio=None, flatness=0.02, level_db=-14.0)
QUIET_ANGER = WindowAudio(over_db=4.0, speech_prob=0.9, pitch_ratio=1.5, flatness=0.02, level_db=-28.0)
NO_BASELINE = WindowAudio(over_db=None, speech_prob=0.9, pitch_ratio=None, flatness=0.02, level_db=-14.0)


def run(script: list[tuple[float, WindowAudio | None, int, float | None]], cfg: DisputeRuleConfig,
        until: float) -> list[tuple[str, float]]:
    """script: (from_t, audio, people, motion) segments; returns (state, t) of the events."""
    rule = DisputeRule(SRC, "W1", cfg)
    out = []
    t = 0.0
    while t <= until:
        seg = [s for s in script if s[0] <= t][-1]
        out += [(e.state, e.t) for e in rule.update(t, seg[1], seg[2], seg[3])]
        t = round(t + STEP, 3)
    return out


CFG = DisputeRuleConfig(after_s=5, clear_after_s=10, loudness_over_baseline_db=12, min_people=2,
                        update_every_s=30, gap_tolerance_s=1.5, min_pitch_ratio=1.1)


@pytest.mark.parametrize("name,script,cfg,want", [
    ("calm conversation", [(0, CALM, 2, None)], CFG, []),
    ("quarrel with a crowd", [(0, CALM, 2, None), (10, LOUD, 2, None), (20, CALM, 2, None)], CFG,
     [("start", 15.0), ("end", 29.5)]),
    ("quarrel, one person only", [(0, CALM, 1, None), (10, LOUD, 1, None), (20, CALM, 1, None)], CFG, []),
    ("quarrel, agitated motion instead of people",
     [(0, CALM, 1, 0.0), (10, LOUD, 1, 0.4), (20, CALM, 1, 0.0)],
     CFG.model_copy(update={"agitated_motion": 0.3}), [("start", 15.0), ("end", 29.5)]),
    ("motion below the agitation threshold", [(0, LOUD, 1, 0.1)],
     CFG.model_copy(update={"agitated_motion": 0.3}), []),
    ("too short", [(0, CALM, 2, None), (10, LOUD, 2, None), (14, CALM, 2, None)], CFG, []),
    ("short pauses do not reset", [(0, CALM, 2, None), (10, LOUD, 2, None), (12, CALM, 2, None),
                                   (13, LOUD, 2, None), (20, CALM, 2, None)], CFG,
     [("start", 15.0), ("end", 29.5)]),
    ("a long pause resets", [(0, CALM, 2, None), (10, LOUD, 2, None), (12, CALM, 2, None),
                             (14, LOUD, 2, None), (30, CALM, 2, None)], CFG,
     [("start", 19.0), ("end", 39.5)]),
    ("loud noise", [(0, NOISE, 3, None)], CFG, []),
    ("loud but spectrally flat", [(0, FLAT_SPEECH, 3, None)], CFG, []),
    ("loud with lowered pitch (an impact, a different voice)", [(0, LOW_PITCH, 3, None)], CFG, []),
    ("loud, pitch not measurable", [(0, NO_PITCH, 2, None)], CFG, [("start", 5.0)]),
    ("pitch condition off (the default)", [(0, LOW_PITCH, 2, None)], CFG.model_copy(update={"min_pitch_ratio": 0}),
     [("start", 5.0)]),
    ("quiet anger", [(0, QUIET_ANGER, 3, None)], CFG, []),
    ("no baseline yet", [(0, NO_BASELINE, 3, None)], CFG, []),
    ("no audio", [(0, None, 3, None)], CFG, []),
    ("long quarrel sends updates", [(0, LOUD, 2, None)], CFG.model_copy(update={"update_every_s": 10}),
     [("start", 5.0), ("update", 15.0), ("update", 25.0)]),
    ("people leave: calm by absence", [(0, LOUD, 2, None), (8, LOUD, 0, None)], CFG,
     [("start", 5.0), ("end", 17.5)]),
])
def test_dispute_table(name: str, script: list, cfg: DisputeRuleConfig, want: list) -> None:
    assert run(script, cfg, until=30.0 if name != "a long pause resets" else 40.0) == want, name


def test_event_details_and_identity() -> None:
    rule = DisputeRule(SRC, "W7", CFG)
    events = []
    for i in range(60):
        t = i * STEP
        events += rule.update(t, LOUD if t < 12 else CALM, 3)
    start, end = events
    assert start.type == "dispute" and start.window == "W7" and start.camera == "cam1"
    assert start.event_id == end.event_id and end.started_at == start.started_at == 5.0
    d = start.details
    assert d["db_over_baseline"] == 18.0 and d["speech_prob"] == 0.9 and d["pitch_ratio"] == 1.4
    assert d["max_people"] == 3 and d["median_pitch_ratio"] == 1.4 and start.people == 3
    assert 0 < start.score <= 1
    assert rule.active is False and end.details["alert_s"] == pytest.approx(end.t - 5.0)
