"""Golden dispute replay: real footage (people at the counter, counted by the real detector) plus hall audio
generated from the real speech assets, through `hallwatch replay` and scored by `hallwatch evaluate`.

See tests/golden/dispute/README.md for the set.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from edge.cli import main
from tests.assets import asset_or_skip
from tests.audiogen import DEFAULT_PLAN, build_hall_set

pytestmark = [pytest.mark.assets, pytest.mark.slow]
CONFIG = Path(__file__).resolve().parent / "golden" / "dispute" / "hall.yaml"


@pytest.fixture(scope="module")
def replayed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    footage = asset_or_skip("footage/one-by-one-person-detection.mp4")
    asset_or_skip("models/yolox_nano.onnx")
    for name in ("two-speakers.wav", "198-209-0000.hq.ogg", "3436-172162-0000.hq.ogg", "5703-47212-0000.hq.ogg"):
        asset_or_skip(f"audio/{name}")
    pytest.importorskip("silero_vad", reason="pip install --no-deps silero-vad (scripts/install.sh)")
    out = tmp_path_factory.mktemp("golden_dispute")
    hall = build_hall_set(out)
    events = out / "events.jsonl"
    args = ["replay", str(CONFIG), "--no-progress", "--out", str(events), "--source", f"cam1={footage}"]
    for mic, path in hall.mics.items():
        args += ["--source", f"{mic}={path}"]
    assert main(args) == 0
    return events, hall.dir / "labels.json"


def test_every_quarrel_and_no_false_alarm(replayed, capsys) -> None:
    events, labels = replayed
    capsys.readouterr()
    assert main(["evaluate", "--truth", str(labels), "--events", str(events), "--json"]) == 0
    report = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    d = report["types"]["dispute"]
    assert d["tp"] == 3 and d["fp"] == 0 and d["fn"] == 0, report


def test_alerts_within_after_s_plus_2(replayed) -> None:
    events, _ = replayed
    starts = [json.loads(line) for line in events.read_text().splitlines()]
    starts = [e for e in starts if e["state"] == "start"]
    assert {e["type"] for e in starts} == {"dispute"}
    quarrels = [q for q in DEFAULT_PLAN if q["kind"] == "quarrel"]
    for q, e in zip(quarrels, sorted(starts, key=lambda e: e["t"]), strict=True):
        assert e["window"] == {"mic1": "W1", "mic2": "W2", "mic3": "W3"}[q["mic"]]
        assert 0 <= e["t"] - q["start"] <= 5.0 + 2.0, (q, e["t"])
        assert e["people"] >= 1 and e["details"]["db_over_baseline"] >= 12.0
