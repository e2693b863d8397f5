"""`hallwatch bench`: how many cameras one node holds in real time, measured, against the naive loop.

Our arm runs the real live node (`edge.node.Node`: capture processes, shared-memory rings, detector
workers, gating, tracking, rules, publishing) on N simulated cameras: the footage file played at its own
frame rate from staggered start offsets (camera i starts i/N of the way into the file), looping, for
S seconds after a warm-up. A run holds real time when no frame was dropped anywhere, none was late and
the analysed rate reached N x detect_fps. The largest such N is searched from the measured CPU load.

The baseline arm (`edge.bench_baseline`, a separate process so torch stays out of ours) is what users
would otherwise write: `for r in YOLO(weights).track(source, stream=True): ...`, one process per camera,
every analysed frame, on the same footage and network. Its capacity is the machine's cores divided by
the CPU one camera costs (an upper bound: it assumes perfect packing of the processes), so the ratio
reported is conservative.
"""

from __future__ import annotations

import json
import logging
import math
import os
import platform
import subprocess
import sys
from collections.abc import Callable
from dataclasses import replace
from fractions import Fraction
from pathlib import Path
from typing import Any

import av

from edge.capture import CaptureSpec
from edge.config import CameraConfig, NodeConfig, WindowConfig
from models.config import ModelConfig

log = logging.getLogger(__name__)

POST_ZONE = [[0.42, 0.60], [0.80, 0.60], [0.80, 1.0], [0.42, 1.0]]  # the table of the one-by-one clip
Progress = Callable[[str], None]


def cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def machine() -> dict[str, Any]:
    """What the numbers were measured on."""
    model, flags = "unknown", []
    try:
        text = Path("/proc/cpuinfo").read_text()
        model = next(line.split(":", 1)[1].strip() for line in text.splitlines() if line.startswith("model name"))
        fl = next(line.split(":", 1)[1].split() for line in text.splitlines() if line.startswith("flags"))
        flags = sorted(f for f in fl if f in {"avx2", "avx512f", "avx512_bf16", "amx_bf16", "avx512_vnni"})
    except (OSError, StopIteration):
        pass
    import onnxruntime
    import openvino

    mem_gb = None
    try:
        import psutil

        mem_gb = round(psutil.virtual_memory().total / 2**30, 1)
    except ImportError:
        pass
    return {"cpu": model, "cores": cores(), "cpu_flags": flags, "memory_gb": mem_gb,
            "python": platform.python_version(), "os": platform.platform(),
            "versions": {"av": av.__version__, "openvino": openvino.__version__,
                         "onnxruntime": onnxruntime.__version__}}


def probe(path: str | Path) -> dict[str, Any]:
    with av.open(str(path)) as c:
        s = c.streams.video[0]
        rate = float(s.average_rate or s.guessed_rate or 0)
        return {"path": str(path), "width": s.codec_context.width, "height": s.codec_context.height,
                "fps": round(rate, 3), "duration_s": round((c.duration or 0) / 1e6, 2), "codec": s.codec_context.name}


def reencode(src: str | Path, out_dir: str | Path, *, width: int = 1280, height: int = 720, fps: int = 25,
             bitrate: int = 1_500_000, gop_s: float = 2.0, progress: Progress | None = None) -> Path:
    """The clip as a typical hall camera sends it: H.264 (libx264) at width x height, `fps` frames per
    second, `bitrate` bit/s, a keyframe every `gop_s`; the source's frames are repeated or skipped to the
    new rate so the scene runs at its real speed. Cached by name in out_dir."""
    src = Path(src)
    out = Path(out_dir) / f"{src.stem}_{height}p{fps}.mp4"
    if out.is_file():
        return out
    out.parent.mkdir(parents=True, exist_ok=True)
    part = out.with_suffix(".part.mp4")
    if progress:
        progress(f"bench: re-encoding {src.name} to {width}x{height} H.264 at {fps} fps (once, cached in {out})")
    with av.open(str(src)) as inp, av.open(str(part), "w") as dst:
        ist = inp.streams.video[0]
        ost = dst.add_stream("libx264", rate=fps)
        ost.width, ost.height, ost.pix_fmt = width, height, "yuv420p"
        ost.bit_rate = bitrate
        ost.codec_context.gop_size = int(gop_s * fps)
        ost.options = {"preset": "veryfast", "bf": "0"}  # cameras send no B-frames (low latency)
        ost.time_base = Fraction(1, fps)
        k = 0
        for frame in inp.decode(ist):
            t_next = float(frame.time) + 1.0 / float(ist.average_rate or 10)
            img = None
            while k / fps < t_next:  # repeat this source frame until the next one is due
                img = img or frame.reformat(width=width, height=height, format="yuv420p")
                vf = av.VideoFrame.from_ndarray(img.to_ndarray(), format="yuv420p")
                vf.pts = k
                for pkt in ost.encode(vf):
                    dst.mux(pkt)
                k += 1
        for pkt in ost.encode():
            dst.mux(pkt)
    part.replace(out)
    return out


def node_config(footage: str, n: int, model: ModelConfig, *, detect_fps: float, crop_model: str | None,
                gating: bool, workers: int | None, batch_jobs: int = 4, capture_nice: int | None = None,
                crop_sizes: list[int] | None = None, max_scale: float | None = None) -> NodeConfig:
    """N cameras on the same footage, each with one window (so the rules run as on a real node)."""
    cams = [CameraConfig(id=f"cam{i:02d}", source=footage, detect_fps=detect_fps) for i in range(n)]
    wins = [WindowConfig(id=f"W{i:02d}", camera=c.id, post=POST_ZONE) for i, c in enumerate(cams)]
    cfg = NodeConfig(site="bench", node="bench", model=model, cameras=cams, windows=wins)
    cfg.gating.enabled = gating
    cfg.gating.crop_model = crop_model
    if crop_sizes is not None:
        cfg.gating.crop_sizes = crop_sizes
    cfg.gating.max_scale = max_scale
    cfg.runtime.detector_workers = workers
    cfg.runtime.max_batch_jobs = batch_jobs
    if capture_nice is not None:
        cfg.runtime.capture_nice = capture_nice
    cfg.runtime.stats_every_s = 3600.0
    return cfg


def run_node(cfg: NodeConfig, *, seconds: float, duration_s: float, warmup_s: float = 3.0,
             pixel_format: str = "i420", settle_lag_s: float | None = 0.5) -> dict[str, Any]:
    """One live run of the node; returns its stats plus `holds_realtime`. `pixel_format` "bgr24" makes the
    captures convert every analysed frame to BGR before the ring (the path before I420 rings, for A/B).
    The measurement starts `warmup_s` after every capture has caught up with its camera to within
    `settle_lag_s` (None: right after the first frames; see `Node.run`): the start-up backlog of twenty
    processes starting at once is not the node's steady state. The run's `settle_s` says how long that took."""
    from edge.node import Node

    n = len(cfg.cameras)

    def staggered(spec: CaptureSpec) -> CaptureSpec:
        return replace(spec, paced=True, loop=True, start_s=duration_s * spec.index / n, stats_every_s=1.0,
                       pixel_format=pixel_format)

    published: list[int] = []
    node = Node(cfg, event_sinks=[lambda ev: published.append(1)], capture_overrides=staggered)
    stats = node.run(seconds, warmup_s=warmup_s, settle_lag_s=settle_lag_s).as_dict()
    fps = cfg.cameras[0].detect_fps
    stats["holds_realtime"] = bool(stats["dropped_total"] == 0 and stats["late_frames"] == 0
                                   and stats["analysed_fps"] >= 0.95 * n * fps)
    stats["events_published"] = len(published)
    return stats


def estimate_capacity(stats: dict[str, Any], n: int, headroom: float = 0.9) -> int:
    """Cameras the cores could carry at the measured CPU load per camera."""
    load = stats.get("cpu_load") or 0.0
    return n * 4 if load <= 0 else max(1, math.floor(n * cores() * headroom / load))


def find_max(run: Callable[[int], dict[str, Any]], start: int, *, tries: int, progress: Progress,
             good: int = 0, bad: int | None = None) -> tuple[int, list]:
    """Largest N that held real time, from `start` (kept between the known `good` and `bad` counts): up
    while it holds (by the measured load), bisect down."""
    trail: list[dict[str, Any]] = []
    if bad is not None and good + 1 >= bad:
        return good, trail
    n = max(good + 1, start)
    if bad is not None and n >= bad:
        n = (good + bad) // 2
    for _ in range(tries):
        stats = run(n)
        trail.append({"cameras": n, "holds_realtime": stats["holds_realtime"], "cpu_load": stats["cpu_load"],
                      "dropped_total": stats["dropped_total"], "late_frames": stats["late_frames"]})
        if stats["holds_realtime"]:
            good = max(good, n)
            nxt = estimate_capacity(stats, n)
            nxt = max(n + 1, nxt) if bad is None else min(max(n + 1, nxt), (n + bad) // 2)
        else:
            bad = n if bad is None else min(bad, n)
            nxt = (good + bad) // 2 if good else max(1, min(n - 1, estimate_capacity(stats, n)))
        if nxt == n or (bad is not None and nxt >= bad) or nxt <= good:
            break
        n = nxt
    return good, trail


def run_baseline(weights: str, footage: str, *, seconds: float, detect_fps: float, imgsz: int) -> dict[str, Any]:
    """The naive ultralytics loop in its own process; returns its JSON plus its capacity estimate."""
    cmd = [sys.executable, "-m", "edge.bench_baseline", "--weights", weights, "--source", footage,
           "--seconds", str(seconds), "--detect-fps", str(detect_fps), "--imgsz", str(imgsz)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds * 4 + 300,
                          cwd=Path(__file__).resolve().parent.parent)
    if proc.returncode != 0:
        raise RuntimeError(f"baseline failed (exit {proc.returncode}): {proc.stderr.strip()[-800:]}")
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    per_cam = out["cpu_ms_per_frame"] * detect_fps / 1000.0  # cores one camera keeps busy
    fits_one = out["wall_ms_per_frame"] <= 1000.0 / detect_fps
    out["max_realtime_cameras"] = math.floor(cores() / per_cam) if fits_one and per_cam > 0 else 0
    out["method"] = ("one process per camera; cores / (CPU ms per analysed frame x detect_fps), an upper bound "
                     "(perfect packing); 0 when one camera alone cannot keep up")
    return out
