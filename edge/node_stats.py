"""Counters and per-stage CPU time of the live node, published periodically and returned by `Node.run`.

Stage CPU time per analysed frame (ms): decode (capture processes' CPU: demux, decode of every frame, BGR
conversion of analysed ones, copy into the ring), motion (gate), crop (planning crops, merging carried
people), inference (detector workers' CPU: crop views, letterbox, network, decode, merge), tracking,
rules, publishing (event sinks). Analysed frames are the frames that went through the whole per-frame path.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from detectors.gating import GatingStats

STAGES = ("decode", "motion", "crop", "inference", "tracking", "rules", "publishing")
DROP_KEYS = ("ring_dropped", "replaced", "detector_dropped")


class NodeStats:
    def __init__(self, cameras: list[str]) -> None:
        self.cameras = cameras
        self.counts: dict[str, dict[str, int]] = {c: defaultdict(int) for c in cameras}
        self.stage_ms: dict[str, float] = dict.fromkeys(STAGES, 0.0)
        self._capture: dict[str, dict[str, float]] = {}
        self._capture_base: dict[str, dict[str, float]] = {}
        self._gating: dict[str, tuple[int, int]] = {}  # camera -> (frames, inferred) since start
        self._gating_base: dict[str, tuple[int, int]] = {}
        self._crop_inputs: dict[str, dict[str, int]] = {}  # camera -> crops run per detector input since start
        self._crop_inputs_base: dict[str, dict[str, int]] = {}
        self._procs: list[Any] = []
        self._roles: list[str] = []
        self._cpu_base: dict[str, float] = {}
        self.t0 = self.t1 = time.monotonic()
        self.workers = 0
        self.memory: dict[str, float] = {}
        self.settle_s: float | None = None  # start-up: seconds until every capture had caught up (Node.run)

    # ---- recording -------------------------------------------------------------------------------------
    @contextmanager
    def timed(self, stage: str) -> Iterator[None]:
        c0 = time.thread_time()
        try:
            yield
        finally:
            self.stage_ms[stage] += (time.thread_time() - c0) * 1e3

    def add_ms(self, stage: str, ms: float) -> None:
        self.stage_ms[stage] += ms

    def count(self, camera: str, key: str, n: int = 1) -> None:
        self.counts[camera][key] += n

    def capture(self, camera: str, d: dict[str, float]) -> None:
        self._capture[camera] = dict(d)

    def capture_lag_s(self) -> float | None:
        """How far behind its camera the most lagging capture was at its last report; None until every
        camera has reported."""
        if len(self._capture) < len(self.cameras):
            return None
        return max(float(d.get("lag_s", 0.0)) for d in self._capture.values())

    def gating(self, camera: str, g: GatingStats) -> None:
        self._gating[camera] = (g.frames, g.regions + g.full)
        self._crop_inputs[camera] = dict(g.crop_inputs)

    def start(self, *, workers: int, processes: list[Any]) -> None:
        """`processes`: the node's child processes (multiprocessing.Process), named by role."""
        self.workers = workers
        self._procs = [_ps(p.pid) for p in processes] + [_ps(None)]
        self._roles = [("capture" if "capture" in p.name else "detector") for p in processes] + ["main"]
        self.reset_counters()

    def reset_counters(self) -> None:
        """Forget what happened so far (start-up); keep cumulative sources as baselines."""
        self.counts = {c: defaultdict(int) for c in self.cameras}
        self.stage_ms = dict.fromkeys(STAGES, 0.0)
        self._capture_base = {c: dict(d) for c, d in self._capture.items()}
        self._gating_base = dict(self._gating)
        self._crop_inputs_base = {c: dict(d) for c, d in self._crop_inputs.items()}
        self._cpu_base = self._cpu_total()
        self.t0 = time.monotonic()

    def finish(self) -> None:
        self.t1 = time.monotonic()
        self._cpu_end = self._cpu_total()
        self.memory = self._memory()

    # ---- reporting -------------------------------------------------------------------------------------
    def _cpu_total(self) -> dict[str, float]:
        """CPU seconds so far per process role (capture, detector, main)."""
        total: dict[str, float] = defaultdict(float)
        for p, role in zip(self._procs, self._roles, strict=True):
            if p is None:
                continue
            try:
                t = p.cpu_times()
                total[role] += t.user + t.system
            except Exception:  # noqa: BLE001 - psutil.NoSuchProcess/AccessDenied: the process is gone
                continue
        return total

    def _memory(self) -> dict[str, Any]:
        """Resident (RSS, shared pages counted in every process) and proportional (PSS, shared pages split)
        memory of all node processes, in MiB, with the PSS per role."""
        rss = pss = 0.0
        by_role: dict[str, list[float]] = defaultdict(list)
        for p, role in zip(self._procs, self._roles, strict=True):
            if p is None:
                continue
            try:
                info = p.memory_full_info()
            except Exception:  # noqa: BLE001 - the process is gone or not readable
                continue
            rss += info.rss
            pss += getattr(info, "pss", info.rss)
            by_role[role].append(getattr(info, "pss", info.rss) / 2**20)
        roles = {r: {"count": len(v), "pss_mb_each": round(sum(v) / len(v), 1)} for r, v in by_role.items()}
        return {"rss_mb": round(rss / 2**20, 1), "pss_mb": round(pss / 2**20, 1), "processes": len(self._procs),
                "by_role": roles}

    def _capture_delta(self, key: str) -> float:
        out = 0.0
        for c, d in self._capture.items():
            out += d.get(key, 0.0) - self._capture_base.get(c, {}).get(key, 0.0)
        return out

    def as_dict(self) -> dict[str, Any]:
        end = self.t1 if self.t1 > self.t0 else time.monotonic()
        wall = max(end - self.t0, 1e-9)
        processed = sum(c.get("processed", 0) for c in self.counts.values())
        stages = dict(self.stage_ms)
        stages["decode"] = self._capture_delta("cpu_s") * 1e3
        per_frame = {k: round(v / processed, 3) if processed else None for k, v in stages.items()}
        frames = sum(f - self._gating_base.get(c, (0, 0))[0] for c, (f, _) in self._gating.items())
        inferred = sum(i - self._gating_base.get(c, (0, 0))[1] for c, (_, i) in self._gating.items())
        crop_inputs: dict[str, int] = defaultdict(int)
        for c, d in self._crop_inputs.items():
            for k, v in d.items():
                crop_inputs[k] += v - self._crop_inputs_base.get(c, {}).get(k, 0)
        drops = {k: sum(c.get(k, 0) for c in self.counts.values()) for k in DROP_KEYS if k != "ring_dropped"}
        drops["ring_dropped"] = int(self._capture_delta("dropped"))
        late = int(sum(c.get("late", 0) for c in self.counts.values()) + self._capture_delta("late"))
        cpu_end = getattr(self, "_cpu_end", None) or self._cpu_total()
        by_role = {r: round((v - self._cpu_base.get(r, 0.0)) / wall, 3) for r, v in cpu_end.items()}
        return {
            "cameras": len(self.cameras),
            "wall_s": round(wall, 2),
            "analysed_frames": processed,
            "analysed_fps": round(processed / wall, 2),
            "decoded_frames": int(self._capture_delta("decoded")),
            "stages_ms": per_frame,
            "inference_fraction": round(inferred / frames, 4) if frames else None,
            "crop_inputs": dict(sorted(crop_inputs.items(), key=lambda kv: int(kv[0].split("x")[0]))),
            "drops": drops,
            "dropped_total": sum(drops.values()),
            "late_frames": late,
            "settle_s": self.settle_s,
            "cpu_load": round(sum(by_role.values()), 3),  # cores busy on average, all node processes
            "cpu_load_by_role": by_role,
            "workers": self.workers,
            "memory": self.memory,
            "per_camera": {c: dict(v) for c, v in self.counts.items()},
        }


def _ps(pid: int | None) -> Any:
    try:
        import psutil

        return psutil.Process(pid)
    except Exception:  # noqa: BLE001 - psutil missing or the process already gone
        return None
