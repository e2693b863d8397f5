"""`hallwatch bench` keeps its output contract (functional, not timed: the figures are whatever this machine
does; only their presence and consistency are checked). Runs the real node on the real footage: capture
processes, I420 or BGR rings, detector workers with YOLOX-Nano, gating, tracking and rules."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.assets import asset_or_skip as asset

ROOT = Path(__file__).resolve().parent.parent
STAGES = {"decode", "motion", "crop", "inference", "tracking", "rules", "publishing"}


@pytest.mark.parametrize(("pixel_format", "repeat"), [("i420", 1), ("bgr24", 2)])
def test_bench_json_contract_on_real_footage(tmp_path: Path, pixel_format: str, repeat: int) -> None:
    out = tmp_path / "bench.json"
    cmd = [sys.executable, "-m", "edge.cli", "bench", "--model", str(asset("models/yolox_nano.onnx")),
           "--footage", str(asset("footage/one-by-one-person-detection.mp4")), "--stream", "native",
           "--cameras", "2", "--seconds", "4", "--warmup", "1", "--pixel-format", pixel_format,
           "--capture-nice", "3", "--repeat", str(repeat), "--json", "--out", str(out)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr[-2000:]
    last = json.loads(proc.stdout.strip().splitlines()[-1])  # the contract: the last line is the JSON object
    assert last == json.loads(out.read_text())
    assert {"max_realtime_cameras", "stages_ms", "inference_fraction", "estimated_max_cameras"} <= set(last)
    assert last["pixel_format"] == pixel_format and last["capture_nice"] == 3
    assert last["crop_sizes"] == [160, 224, 320] and last["max_scale"] is None
    assert last["repeat"] == repeat and len(last["runs"]) == repeat
    verdicts = []
    for run in last["runs"]:
        assert run["cameras"] == 2 and run["analysed_frames"] > 0
        assert run["decoded_frames"] >= run["analysed_frames"]
        assert set(run["stages_ms"]) == STAGES and run["stages_ms"]["decode"] > 0 and run["stages_ms"]["motion"] > 0
        assert set(run["per_camera"]) == {"cam00", "cam01"}
        assert all(c["processed"] > 0 for c in run["per_camera"].values())
        assert 0.0 <= run["inference_fraction"] <= 1.0
        # crops ran at the inputs the planner chose (YOLOX-Nano reshaped by OpenVINO), counted per input
        assert sum(run["crop_inputs"].values()) > 0
        assert set(run["crop_inputs"]) <= {"160x160", "224x224", "320x320", "416x416"}
        # measured only once both captures had caught up with their cameras after start-up
        assert run["settle_s"] is not None and 0.0 <= run["settle_s"] < 30.0
        # the verdict follows from the counts
        held = run["dropped_total"] == 0 and run["late_frames"] == 0 and run["analysed_fps"] >= 0.95 * 2 * 5
        assert run["holds_realtime"] == held
        verdicts.append(held)
        assert run["memory"]["processes"] == 2 + run["workers"] + 1  # two captures, the workers and main
    # a count holds only if every run of it held
    assert last["held_by_cameras"] == {"2": f"{sum(verdicts)}/{repeat}"}
    assert last["max_realtime_cameras"] == (2 if all(verdicts) else 0)
