"""The naive loop users would otherwise write, timed: `python -m edge.bench_baseline --weights W --source F`.

    for r in YOLO(weights).track(source, stream=True, vid_stride=k, imgsz=640): ...

One process, one camera, as fast as it goes (a file is not paced), for `--seconds` after 3 warm-up frames.
Prints one JSON line: analysed frames, process CPU and wall ms per analysed frame, resident memory.
`vid_stride` = source fps / detect fps, so it analyses the same frames per second of video as our node.
"""

from __future__ import annotations

import argparse
import json
import os
import time


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--weights", required=True)
    p.add_argument("--source", required=True)
    p.add_argument("--seconds", type=float, default=20.0)
    p.add_argument("--detect-fps", type=float, default=5.0)
    p.add_argument("--imgsz", type=int, default=640)
    a = p.parse_args()
    os.environ.setdefault("YOLO_OFFLINE", "1")
    import av
    import psutil

    with av.open(a.source) as c:
        s = c.streams.video[0]
        src_fps = float(s.average_rate or 25)
    stride = max(1, round(src_fps / a.detect_fps))
    from ultralytics import YOLO

    model = YOLO(a.weights)
    me = psutil.Process()
    frames, t0, c0 = 0, 0.0, 0.0
    warm = 3
    for _ in model.track(a.source, stream=True, vid_stride=stride, imgsz=a.imgsz, verbose=False, persist=True):
        frames += 1
        if frames == warm:
            t0, c0 = time.perf_counter(), sum(me.cpu_times()[:2])
        elif frames > warm and time.perf_counter() - t0 >= a.seconds:
            break
    n = frames - warm
    wall = time.perf_counter() - t0
    cpu = sum(me.cpu_times()[:2]) - c0
    import torch

    print(json.dumps({"loop": "YOLO(weights).track(source, stream=True)", "weights": a.weights,
                      "vid_stride": stride, "imgsz": a.imgsz, "torch_threads": torch.get_num_threads(),
                      "analysed_frames": n, "wall_s": round(wall, 2),
                      "cpu_ms_per_frame": round(cpu * 1e3 / max(n, 1), 2),
                      "wall_ms_per_frame": round(wall * 1e3 / max(n, 1), 2),
                      "rss_mb": round(me.memory_info().rss / 2**20, 1)}))


if __name__ == "__main__":
    main()
