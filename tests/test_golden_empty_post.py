"""Golden replay: the real one-by-one footage through the whole pipeline, gated on evaluate's F1.

Config and truth are the demo's (edge/demo.yaml, edge/demo.truth.json; see tests/golden/empty_post).
"""

import json
from pathlib import Path

import pytest

from edge.cli import main
from edge.cli_demo import demo_config
from edge.replay import Replay, write_events
from tests.assets import asset_or_skip as asset

pytestmark = [pytest.mark.assets, pytest.mark.slow]

TRUTH = Path(__file__).resolve().parent.parent / "edge" / "demo.truth.json"


@pytest.fixture(scope="module")
def replayed(tmp_path_factory):
    footage = asset("footage/one-by-one-person-detection.mp4")
    asset("models/yolox_nano.onnx")
    cfg = demo_config(footage.parent.parent)
    out = tmp_path_factory.mktemp("golden")
    first = Replay(cfg).run()
    second = Replay(cfg).run()
    return first, second, write_events(first.events, out / "events.jsonl")


def test_f1_gate(replayed, capsys):
    _, _, events = replayed
    assert main(["evaluate", "--truth", str(TRUTH), "--events", str(events), "--json"]) == 0
    report = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    ep = report["types"]["empty_post"]
    assert ep["f1"] >= 0.9, report
    assert ep["start_error_p90_s"] <= 2.0


def test_no_alert_while_someone_is_at_the_table(replayed):
    first, _, _ = replayed
    truth = json.loads(TRUTH.read_text())
    # The middle of every staffed spell (between one truth interval's end and the next one's start - 3 s).
    staffed = [(a["end"] + 1.0, b["start"] - 3.0 - 1.0) for a, b in zip(truth, truth[1:], strict=False)]
    starts = [e.t for e in first.events if e.state == "start"]
    for lo, hi in staffed:
        assert not any(lo <= t <= hi for t in starts), (lo, hi, starts)


def test_replay_is_deterministic(replayed):
    first, second, _ = replayed
    assert [e.to_json() for e in first.events] == [e.to_json() for e in second.events]
    assert first.frames == second.frames == 697
