"""One-off measurement of the person detector's cost (not a test): median ms per call, all arms in one run.

    python scripts/measure_models.py [--rounds 8]

Wall time on a shared machine includes waiting for a core; CPU time (process_time, all threads) does not.
1. YOLOX-Nano (shared asset) per frame, full call (letterbox + inference + decode) on a 480x270 frame:
   ONNX Runtime and OpenVINO (bf16 where supported, and f32), 1 and 2 threads.
2. Batching crops: yolov8n built from its YAML (random weights, identical compute), exported at 320x320 with a
   dynamic batch: one batch of 4 crops against 4 single calls, per backend, 1 thread.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import cv2

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from models.assets import require_asset  # noqa: E402
from models.backends import OpenVinoRunner, OrtRunner  # noqa: E402
from models.detector import PersonDetector  # noqa: E402
from models.export import baseline_network  # noqa: E402


def measure(arms: dict[str, Callable[[], object]], rounds: int, calls: int = 5) -> dict[str, tuple[float, float]]:
    """Median (wall ms, CPU ms) per call of each arm; arms interleaved round by round so they share the noise."""
    for fn in arms.values():
        for _ in range(3):
            fn()
    wall: dict[str, list[float]] = {k: [] for k in arms}
    cpu: dict[str, list[float]] = {k: [] for k in arms}
    for _ in range(rounds):
        for name, fn in arms.items():
            for _ in range(calls):
                t0, c0 = time.perf_counter(), time.process_time()
                fn()
                wall[name].append((time.perf_counter() - t0) * 1000)
                cpu[name].append((time.process_time() - c0) * 1000)
    return {k: (statistics.median(wall[k]), statistics.median(cpu[k])) for k in arms}


def report(title: str, results: dict[str, tuple[float, float]]) -> None:
    print(title)
    for name, (wall_ms, cpu_ms) in results.items():
        print(f"  {name:40s} wall {wall_ms:6.1f} ms   cpu {cpu_ms:6.1f} ms")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=8)
    args = parser.parse_args()
    frame = cv2.VideoCapture(str(require_asset("footage/classroom.gif"))).read()[1]
    yolox = require_asset("models/yolox_nano.onnx")
    arms: dict[str, Callable[[], object]] = {}
    for threads in (1, 2):
        for name, runner in {
            "onnxruntime": OrtRunner(yolox, threads=threads),
            "openvino": OpenVinoRunner(yolox, threads=threads),
            "openvino f32": OpenVinoRunner(yolox, threads=threads, precision="f32"),
        }.items():
            det = PersonDetector(runner, confidence=0.35, iou=0.45)
            label = f"{threads} thread(s) {name} ({getattr(runner, 'precision', 'f32')})"
            arms[label] = lambda d=det: d(frame)
    report("YOLOX-Nano 416, full call (letterbox + inference + decode) per 480x270 frame", measure(arms, args.rounds))

    with tempfile.TemporaryDirectory() as tmp:
        _, onnx_path = baseline_network("yolov8n.yaml", (320, 320), out_dir=Path(tmp))
        crops = [cv2.resize(frame[:, i * 40 : i * 40 + 270], (320, 320)) for i in range(4)]
        arms = {}
        for name, runner in {
            "onnxruntime": OrtRunner(onnx_path, threads=1),
            "openvino": OpenVinoRunner(onnx_path, threads=1),
        }.items():
            det = PersonDetector(runner, confidence=0.35, iou=0.45)
            arms[f"{name}: 4 single calls"] = lambda d=det: [d(c) for c in crops]
            arms[f"{name}: one batch of 4"] = lambda d=det: d.detect_batch(crops)
        report("yolov8n 320x320 (YAML, random weights), 4 crops, 1 thread (ms for all 4)",
               measure(arms, args.rounds, calls=2))


if __name__ == "__main__":
    main()
