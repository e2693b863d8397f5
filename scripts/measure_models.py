"""One-off measurement of the person detector's cost (not a test): median ms per call, all arms in one run.

    python scripts/measure_models.py [--repeats 60]

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
from pathlib import Path

import cv2

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from models.assets import require_asset  # noqa: E402
from models.backends import OpenVinoRunner, OrtRunner  # noqa: E402
from models.detector import PersonDetector  # noqa: E402
from models.export import baseline_network  # noqa: E402


def median_ms(fn, repeats: int) -> float:
    for _ in range(5):
        fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=60)
    args = parser.parse_args()
    frame = cv2.VideoCapture(str(require_asset("footage/classroom.gif"))).read()[1]
    yolox = require_asset("models/yolox_nano.onnx")
    print("YOLOX-Nano 416, full call per 480x270 frame (median ms)")
    for threads in (1, 2):
        arms = {
            "onnxruntime f32": OrtRunner(yolox, threads=threads),
            "openvino auto": OpenVinoRunner(yolox, threads=threads),
            "openvino f32": OpenVinoRunner(yolox, threads=threads, precision="f32"),
        }
        for name, runner in arms.items():
            det = PersonDetector(runner, confidence=0.35, iou=0.45)
            label = f"{name} ({getattr(runner, 'precision', 'f32')})"
            print(f"  {threads} thread(s)  {label:28s} {median_ms(lambda d=det: d(frame), args.repeats):6.1f}")

    with tempfile.TemporaryDirectory() as tmp:
        _, onnx_path = baseline_network("yolov8n.yaml", (320, 320), out_dir=Path(tmp))
        crops = [frame[0:270, i * 40 : i * 40 + 320].copy() for i in range(4)]
        crops = [cv2.resize(c, (320, 320)) for c in crops]
        print("yolov8n 320x320 (YAML, random weights), 4 crops, 1 thread (median ms for all 4)")
        for name, runner in {
            "onnxruntime": OrtRunner(onnx_path, threads=1),
            "openvino auto": OpenVinoRunner(onnx_path, threads=1),
        }.items():
            det = PersonDetector(runner, confidence=0.35, iou=0.45)
            singles = median_ms(lambda d=det: [d(c) for c in crops], args.repeats // 2)
            batch = median_ms(lambda d=det: d.detect_batch(crops), args.repeats // 2)
            print(f"  {name:14s} 4 single calls {singles:6.1f}   one batch of 4 {batch:6.1f}")


if __name__ == "__main__":
    main()
