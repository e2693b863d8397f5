"""The README's demo command end to end: embedded broker, central service, replay of the real footage;
every alert reaches the central database."""

import sqlite3

import pytest

from edge.cli import main
from tests.assets import asset_or_skip

pytestmark = [pytest.mark.assets, pytest.mark.slow]


def test_demo_publishes_every_alert_to_central(tmp_path, capsys):
    asset_or_skip("footage/one-by-one-person-detection.mp4")
    asset_or_skip("models/yolox_nano.onnx")
    out = tmp_path / "demo"
    assert main(["demo", "--out-dir", str(out), "--port", "0", "--speed", "0", "--exit-when-done",
                 "--no-progress"]) == 0
    text = capsys.readouterr().out
    assert "Dashboard: http://127.0.0.1:" in text and "manager / " in text
    lines = (out / "events.jsonl").read_text().splitlines()
    assert len(lines) >= 10  # seven empty spells, each a start and an end
    with sqlite3.connect(out / "central.sqlite") as db:
        stored = db.execute("select count(*) from events").fetchone()[0]
        alarms = db.execute("select count(*) from alarms where type = 'empty_post'").fetchone()[0]
    assert stored == len(lines)
    assert alarms == sum(1 for line in lines if '"state":"start"' in line)
