"""Detector worker processes shared by all cameras of a node, fed over pyzmq with frames by reference
(the queueing side is `edge.detector_pool.DetectorPool`).

Each worker is a spawned process with one inference thread (two single-thread workers beat one two-thread
process by 1.3-1.7x here, and OpenVINO's CPU pinning is switched off by the models package, see
MEASUREMENTS.md). A job names a camera's frame ring, slot and generation plus the crops to run; the worker
reads the pixels from shared memory, runs the crop detector on the crops or the full-frame detector, maps
boxes back to frame pixels and merges duplicates, and returns a small message. When several cameras' jobs
wait for a free worker, up to `max_batch_jobs` go to it together and their crops run as one batch (on
this CPU, OpenVINO, yolov8n 320x320, one thread: 13.4-13.9 ms per crop batched against 16.1-16.3 ms one
by one; it costs no extra wait, since only jobs already waiting are batched).
"""

from __future__ import annotations

import importlib
import logging
import pickle
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from detectors.types import Detections
from edge.frame_ring import FrameRing, RingSpec, StaleSlotError

log = logging.getLogger(__name__)

ONE_THREAD_ENV = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


@dataclass(frozen=True)
class WorkerSpec:
    """How a worker builds its detectors: `factory` ("module:function") is called as factory(self) in the
    worker and returns (full_frame_detector, crop_detector_or_None). `full`/`crop` are ModelConfig dicts."""

    full: dict[str, Any]
    crop: dict[str, Any] | None = None
    threads: int = 1
    factory: str = "edge.workers:load_detectors"
    batch: bool = True  # run a job's crops as one batch when the model has a dynamic batch
    max_batch_jobs: int = 4  # waiting jobs of different cameras sent to a free worker as one batch
    max_crop_batch: int = 4  # crops per inference call (each size is compiled once at start-up)
    crop_sizes: tuple[int, ...] = ()  # extra square crop inputs (gating.crop_sizes), where the backend can reshape


@dataclass
class Job:
    """One frame's detection request. regions: int32 (R, 4) frame pixels ("full": ignored); inputs: int32
    (R, 2) the detector input (w, h) of each region (empty: the crop model's own)."""

    camera: int
    seq: int
    ring: RingSpec
    slot: int
    gen: int
    kind: Literal["regions", "full"]
    regions: np.ndarray = field(default_factory=lambda: np.zeros((0, 4), np.int32))
    submitted: float = 0.0
    id: int = 0
    inputs: np.ndarray = field(default_factory=lambda: np.zeros((0, 2), np.int32))


@dataclass
class Result:
    """A finished job: people in frame pixels, the worker's CPU ms for crop+inference+merge, or an error."""

    job: Job
    dets: Detections
    worker: int
    cpu_ms: float
    wall_ms: float
    error: str | None = None


def load_detectors(spec: WorkerSpec) -> tuple[Callable[..., Detections], Any]:
    """The default factory: `models.detector.load_detector` for the full-frame and the crop model."""
    from models.config import ModelConfig
    from models.detector import load_detector

    full = load_detector(ModelConfig(**spec.full), threads=spec.threads)
    crop = load_detector(ModelConfig(**spec.crop), threads=spec.threads) if spec.crop else None
    return full, crop


def _resolve(factory: str) -> Callable[[WorkerSpec], tuple[Any, Any]]:
    module, _, name = factory.partition(":")
    if not name:
        raise ValueError(f"worker factory must be 'module:function', got {factory!r}")
    return getattr(importlib.import_module(module), name)


def run_jobs(jobs: list[Job], rings: dict[str, FrameRing], full: Any, crop: Any, *, batch: bool,
             max_batch: int = 4) -> list[tuple[Detections, str | None]]:
    """Detect on several jobs' frames (shared memory, read in place): the crops of all jobs in batches of
    at most `max_batch` (the sizes compiled at start-up), full frames one by one (they are rare: warm-up,
    global changes, the periodic full pass). Per job: (people in frame pixels, error)."""
    from detectors.gating import detect_crops
    from detectors.regions import merge_detections

    images: list[np.ndarray | None] = []
    errors: list[str | None] = []
    for job in jobs:
        try:
            ring = rings.get(job.ring.name) or rings.setdefault(job.ring.name, FrameRing.attach(job.ring))
            images.append(ring.view(job.slot, job.gen))
            errors.append(None)
        except (StaleSlotError, FileNotFoundError) as exc:
            images.append(None)
            errors.append(str(exc))
    det = crop or full
    own = np.array(det.input_hw[::-1], np.int32)  # (w, h): for jobs that name no input per crop
    crops: list[tuple[int, np.ndarray]] = []  # (job index, view)
    inputs: list[np.ndarray] = []
    fulls: list[tuple[int, np.ndarray]] = []
    for i, (job, image) in enumerate(zip(jobs, images, strict=True)):
        if image is None:
            continue
        if job.kind == "full":  # an I420 frame converts only the pixels the network sees (detectors.i420)
            fulls.append((i, job.ring.bgr(image)))
        else:
            crops += [(i, job.ring.crop_bgr(image, x1, y1, x2, y2)) for x1, y1, x2, y2 in job.regions.tolist()]
            named = len(job.inputs) == len(job.regions)
            inputs.append(job.inputs if named else np.tile(own, (len(job.regions), 1)))
    found: list[list[Detections]] = [[] for _ in jobs]
    # crops of one input size together, in batches within those compiled at start-up; full frames one by one
    parts = detect_crops(det, [v for _, v in crops], np.concatenate(inputs) if inputs else None,
                         batch=batch, max_batch=max_batch)
    parts += [full(v) for _, v in fulls]
    for (i, _), part in zip(crops + fulls, parts, strict=True):
        found[i].append(part)
    out: list[tuple[Detections, str | None]] = []
    for job, image, parts, err in zip(jobs, images, found, errors, strict=True):
        if image is None:
            out.append((Detections.empty(), err))
            continue
        h, w = job.ring.frame_hw
        dets = parts[0] if job.kind == "full" else merge_detections(parts, job.regions, frame_wh=(w, h))
        try:
            rings[job.ring.name].check(job.slot, job.gen)  # still ours after reading
            out.append((dets, None))
        except StaleSlotError as exc:
            out.append((Detections.empty(), str(exc)))
    return out


def _warm_batches(det: Any, max_batch: int) -> None:
    """Run every batch size once now: OpenVINO compiles a dynamic-batch model per batch size on first use
    (hundreds of ms), which must not happen while cameras wait."""
    if not getattr(det, "batches", False):
        return
    h, w = det.input_hw
    blank = np.zeros((h, w, 3), np.uint8)
    for n in range(2, max_batch + 1):
        det.detect_batch([blank] * n)


def worker_main(index: int, address: str, spec: WorkerSpec) -> None:
    """Worker process entry: build detectors, say ready, then serve batches of jobs until told to stop."""
    import cv2
    import zmq

    cv2.setNumThreads(1)  # letterbox resizes: one thread per worker process, like the network
    logging.basicConfig(level=logging.WARNING)
    full, crop = _resolve(spec.factory)(spec)
    det = crop or full
    _warm_batches(det, spec.max_crop_batch if spec.batch else 1)
    sizes = det.add_sizes(spec.crop_sizes) if hasattr(det, "add_sizes") else [tuple(det.input_hw)]
    ctx = zmq.Context.instance()
    sock = ctx.socket(zmq.DEALER)
    sock.setsockopt(zmq.LINGER, 0)
    sock.connect(address)
    hw = (tuple(full.input_hw), tuple(det.input_hw), [tuple(x) for x in sizes])
    sock.send(pickle.dumps(("ready", index, hw)))
    rings: dict[str, FrameRing] = {}
    try:
        while True:
            jobs = pickle.loads(sock.recv())
            if jobs is None:
                break
            t0, c0 = time.perf_counter(), time.process_time()
            try:
                results = run_jobs(jobs, rings, full, crop, batch=spec.batch, max_batch=spec.max_crop_batch)
            except ValueError as exc:  # a bad input shape or model output: report, keep serving
                log.warning("worker %d: batch of %d jobs failed: %s", index, len(jobs), exc)
                results = [(Detections.empty(), str(exc)) for _ in jobs]
            n = len(jobs)
            cpu_ms, wall_ms = (time.process_time() - c0) * 1e3 / n, (time.perf_counter() - t0) * 1e3
            sock.send(pickle.dumps(("done", index, [(job.id, d.xyxy, d.confidence, cpu_ms, wall_ms, err)
                                                    for job, (d, err) in zip(jobs, results, strict=True)])))
    finally:
        for r in rings.values():
            r.close()
        sock.close()
