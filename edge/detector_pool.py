"""The detector pool: `workers` detector processes (edge.workers) behind one pyzmq ROUTER socket.

    pool = DetectorPool(WorkerSpec(full=ModelConfig(...).model_dump(), crop=...), workers=2)
    dropped = pool.submit(Job(camera=0, seq=17, ring=spec, slot=3, gen=41, kind="regions", regions=r))
    for result in pool.poll(timeout_ms=10): ...   # Result(job, dets, worker, cpu_ms, wall_ms, error)

Queueing, bounded and named (policy "latest_per_camera"): a worker gets at most `inflight_per_worker`
messages, a camera has at most one job in flight (its tracker needs frames in order) and at most one
waiting; a newer frame from a camera replaces its waiting one, which is dropped, counted and handed back to
the caller so it can release the slot. An overloaded detector therefore costs stale frames, never memory or
latency. Jobs of several cameras waiting when a worker frees up go to it as one batch (`max_batch_jobs`).
"""

from __future__ import annotations

import contextlib
import os
import pickle
import tempfile
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

import numpy as np

from detectors.types import Detections
from edge.workers import ONE_THREAD_ENV, Job, Result, WorkerSpec, worker_main

if TYPE_CHECKING:
    from edge.config import NodeConfig

QueuePolicy = Literal["latest_per_camera"]
QUEUE_POLICY: QueuePolicy = "latest_per_camera"


@dataclass
class PoolStats:
    submitted: int = 0
    dispatched: int = 0
    done: int = 0
    dropped: int = 0  # replaced while waiting (policy latest_per_camera)
    errors: int = 0
    batches: int = 0  # messages to workers (dispatched / batches = jobs per batch)

    def as_dict(self) -> dict[str, int | str]:
        return {"policy": QUEUE_POLICY, "submitted": self.submitted, "dispatched": self.dispatched,
                "done": self.done, "dropped": self.dropped, "errors": self.errors, "batches": self.batches}


class DetectorPool:
    """`workers` detector processes behind a ROUTER socket; see the module docstring for the queue policy."""

    def __init__(self, spec: WorkerSpec, *, workers: int = 2, inflight_per_worker: int = 1,
                 start_timeout_s: float = 120.0) -> None:
        import multiprocessing as mp

        import zmq

        if workers < 1 or inflight_per_worker < 1:
            raise ValueError(f"need at least 1 worker and 1 job in flight, got {workers} and {inflight_per_worker}")
        self._zmq = zmq
        self._dir = tempfile.mkdtemp(prefix="hallwatch-workers-")
        self.address = f"ipc://{self._dir}/detect"
        self._ctx = zmq.Context.instance()
        self._sock = self._ctx.socket(zmq.ROUTER)
        self._sock.setsockopt(zmq.LINGER, 0)
        self._sock.bind(self.address)
        ctx = mp.get_context("spawn")
        self._procs = [ctx.Process(target=worker_main, args=(i, self.address, spec), daemon=True,
                                   name=f"hallwatch-detector-{i}") for i in range(workers)]
        saved = {k: os.environ.get(k) for k in ONE_THREAD_ENV}
        os.environ.update(ONE_THREAD_ENV)  # inherited by the spawned workers before numpy/ORT load
        try:
            for p in self._procs:
                p.start()
        finally:
            for k, v in saved.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v
        self.inflight_per_worker = inflight_per_worker
        self.max_batch_jobs = max(1, spec.max_batch_jobs)
        self._identity: dict[int, bytes] = {}
        self._load: dict[int, int] = {}
        self._inflight: dict[int, Job] = {}  # job id -> job
        self._camera_busy: set[int] = set()
        self._waiting: OrderedDict[int, Job] = OrderedDict()  # camera -> its one waiting job, FIFO by camera
        self._next_id = 0
        self.stats = PoolStats()
        self.full_hw: tuple[int, int] = (0, 0)  # the models' input (height, width), told by the workers
        self.crop_hw: tuple[int, int] = (0, 0)
        self.crop_sizes: list[tuple[int, int]] = []  # every (height, width) the crop detector runs at
        self._await_ready(workers, start_timeout_s)

    def _await_ready(self, n: int, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while len(self._identity) < n:
            if any(p.exitcode not in (None, 0) for p in self._procs):
                self.close()
                raise RuntimeError("a detector worker failed to start (see its log above)")
            if time.monotonic() > deadline:
                self.close()
                raise TimeoutError(f"detector workers not ready after {timeout_s:.0f} s")
            if self._sock.poll(200):
                ident, payload = self._sock.recv_multipart()
                msg = pickle.loads(payload)
                self._identity[msg[1]] = ident
                self._load[msg[1]] = 0
                self.full_hw, self.crop_hw, self.crop_sizes = msg[2]

    @property
    def workers(self) -> int:
        return len(self._procs)

    @property
    def processes(self) -> list:
        """The worker processes (multiprocessing.Process)."""
        return list(self._procs)

    @property
    def socket(self):  # noqa: ANN201 - a zmq socket, for the caller's poller
        """The ROUTER socket results arrive on (register it in a zmq.Poller; then call `poll(0)`)."""
        return self._sock

    def submit(self, job: Job) -> list[Job]:
        """Queue a job; returns the jobs dropped by the policy (the caller releases their slots)."""
        job.id = self._next_id
        self._next_id += 1
        job.submitted = time.perf_counter()
        self.stats.submitted += 1
        dropped = []
        old = self._waiting.pop(job.camera, None)
        if old is not None:
            dropped.append(old)
            self.stats.dropped += 1
        self._waiting[job.camera] = job
        self._dispatch()
        return dropped

    def _dispatch(self) -> None:
        for camera in list(self._waiting):
            if camera in self._camera_busy:
                continue
            worker = min(self._load, key=self._load.__getitem__)
            if self._load[worker] >= self.inflight_per_worker:
                return
            jobs = [self._waiting.pop(camera)]
            for other in list(self._waiting):  # batch other cameras' waiting jobs: it pays (MEASUREMENTS)
                if len(jobs) >= self.max_batch_jobs:
                    break
                if other not in self._camera_busy:
                    jobs.append(self._waiting.pop(other))
            self._sock.send_multipart([self._identity[worker], pickle.dumps(jobs)])
            self._load[worker] += 1
            for job in jobs:
                self._inflight[job.id] = job
                self._camera_busy.add(job.camera)
            self.stats.dispatched += len(jobs)
            self.stats.batches += 1

    def poll(self, timeout_ms: int = 0) -> list[Result]:
        """Finished jobs (waits up to timeout_ms for the first one), in completion order."""
        out: list[Result] = []
        flags = self._zmq.NOBLOCK
        if not self._sock.poll(timeout_ms):
            return out
        while True:
            try:
                _, payload = self._sock.recv_multipart(flags)
            except self._zmq.Again:
                break
            _, worker, results = pickle.loads(payload)
            self._load[worker] -= 1
            for job_id, xyxy, conf, cpu_ms, wall_ms, err in results:
                job = self._inflight.pop(job_id)
                self._camera_busy.discard(job.camera)
                self.stats.done += 1
                self.stats.errors += err is not None
                dets = Detections(xyxy, conf, np.zeros(len(conf), np.int32))
                out.append(Result(job, dets, worker, cpu_ms, wall_ms, err))
        self._dispatch()
        return out

    def pending(self) -> int:
        """Jobs submitted and not finished nor dropped (in flight + waiting)."""
        return len(self._inflight) + len(self._waiting)

    def drain(self, timeout_s: float = 30.0) -> list[Result]:
        """Wait for every pending job; returns their results."""
        out: list[Result] = []
        deadline = time.monotonic() + timeout_s
        while self.pending() and time.monotonic() < deadline:
            out += self.poll(100)
        return out

    def close(self) -> None:
        for ident in self._identity.values():
            with contextlib.suppress(self._zmq.ZMQError):
                self._sock.send_multipart([ident, pickle.dumps(None)], self._zmq.NOBLOCK)
        for p in self._procs:
            p.join(5)
            if p.is_alive():
                p.terminate()
                p.join(2)
        self._sock.close()
        with contextlib.suppress(OSError):
            os.remove(os.path.join(self._dir, "detect"))
            os.rmdir(self._dir)


def default_worker_spec(cfg: NodeConfig) -> WorkerSpec:
    """Worker detectors from the node config: the full-frame model and, with gating on, the crop model."""
    from edge.detect import crop_model_config

    crop = crop_model_config(cfg) if cfg.gating.enabled else None
    return WorkerSpec(full=cfg.model.model_dump(), crop=crop.model_dump() if crop else None,
                      max_batch_jobs=cfg.runtime.max_batch_jobs,
                      crop_sizes=tuple(cfg.gating.crop_sizes) if cfg.gating.enabled else ())


def affinity() -> set[int]:
    """The CPU cores this process may run on."""
    return os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else set(range(os.cpu_count() or 1))
