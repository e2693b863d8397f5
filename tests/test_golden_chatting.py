"""Golden replay: real footage through the whole pipeline (YOLOX-Nano, ByteTrack, ChattingStage), gated on
`hallwatch evaluate`. Configs, truth and how they were made: tests/golden/chatting/README.md."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from edge.cli import main
from edge.config import parse_config, resolve_paths
from edge.replay import Replay, write_events
from tests.assets import asset_or_skip as asset

pytestmark = [pytest.mark.assets, pytest.mark.slow]

GOLDEN = Path(__file__).parent / "golden" / "chatting"
CLIPS = {
    "store-aisle": "footage/store-aisle-detection.gif",
    "face-demographics": "footage/face-demographics-walking-and-pause.gif",
    "people-detection": "footage/people-detection.gif",
}


def golden_config(name: str):
    """The clip's committed config with its footage resolved in the shared assets folder."""
    footage = asset(CLIPS[name])
    asset("models/yolox_nano.onnx")
    path = GOLDEN / f"{name}.yaml"
    return resolve_paths(parse_config(yaml.safe_load(path.read_text()), path), footage.parent.parent)


@pytest.fixture(scope="module")
def replays(tmp_path_factory):
    out = tmp_path_factory.mktemp("golden-chatting")
    runs = {}
    for name in CLIPS:
        result = Replay(golden_config(name)).run()
        runs[name] = (result, write_events(result.events, out / f"{name}.jsonl"))
    return runs


def evaluate(events: Path, truth: Path, capsys) -> dict:
    assert main(["evaluate", "--truth", str(truth), "--events", str(events), "--json"]) == 0
    return json.loads(capsys.readouterr().out.strip().splitlines()[-1])


@pytest.mark.parametrize("name", ["store-aisle", "face-demographics"])
def test_one_gathering_f1_gate(name, replays, capsys):
    result, events = replays[name]
    report = evaluate(events, GOLDEN / f"{name}.truth.json", capsys)
    chat = report["types"]["chatting"]
    assert chat["f1"] >= 0.9, report
    assert chat["start_error_p90_s"] <= 1.0, report
    starts = [e for e in result.events if e.state == "start"]
    assert len(starts) == 1 and starts[0].people == 3, [e.to_json() for e in result.events]
    assert len({e.event_id for e in result.events}) == 1  # one incident: start, updates, end
    assert all(e.type == "chatting" for e in result.events)


def test_one_person_is_no_gathering(replays, capsys):
    result, events = replays["people-detection"]
    assert result.frames > 10  # the clip was decoded and analysed
    assert result.events == []
    assert json.loads((GOLDEN / "people-detection.truth.json").read_text()) == []


def test_replay_is_deterministic(replays):
    first, _ = replays["store-aisle"]
    second = Replay(golden_config("store-aisle")).run()
    assert [e.to_json() for e in first.events] == [e.to_json() for e in second.events]
