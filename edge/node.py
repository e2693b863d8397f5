"""The live multi-camera node: capture processes -> shared-memory rings -> main process (motion gate, crops,
tracking, rules, publishing) <-> detector worker processes.

    node = Node(cfg, event_sinks=[writer], stats_sinks=[publish])
    stats = node.run(duration_s=None)     # until stopped (SIGINT/SIGTERM) or every source ended

Per camera the main process handles one frame at a time in capture order (its tracker needs order): while
a frame is at the detector, newer frames wait behind it, at most `runtime.camera_queue` of them; one more
drops the oldest waiting (policy "drop_oldest", counted as `replaced`), so a burst of slow inferences
costs latency up to that bound, and a detector that cannot keep up costs stale frames, never memory. With the capture rings (policy "drop_newest",
counted as `ring_dropped`) and the detector pool's own bound, every queue of the node is bounded, and
every drop is counted and published in the stats. The per-frame steps are the same as replay's
(`detectors.gating` + `edge.pipeline.CameraPipeline`), split so each stage's CPU time can be measured.
With `clips:` each capture process records its camera's clips (edge/node_clips.py); windows with a
microphone get their audio read on threads and judged after each frame (edge/node_audio.py).
"""

from __future__ import annotations

import logging
import multiprocessing as mp
import pickle
import shutil
import tempfile
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from detectors.gating import DetectionPlanner, DetectPlan, full_offset_s
from detectors.types import PERSON_CLASS_ID, Detections, Event, Frame
from edge.capture import CaptureSpec, capture_main
from edge.config import NodeConfig
from edge.detector_pool import DetectorPool, affinity, default_worker_spec
from edge.frame_ring import FrameRing, RingSpec
from edge.node_stats import NodeStats
from edge.pipeline import CameraPipeline
from edge.workers import Job, Result, WorkerSpec

log = logging.getLogger(__name__)

EventSink = Callable[[Event], None]
StatsSink = Callable[[dict[str, Any]], None]
FrameHook = Callable[[str, CameraPipeline, list[Event]], None]  # camera id, its pipeline, the frame's events


def _no_inline_detector(image: np.ndarray) -> Detections:
    raise RuntimeError("the live node runs the detector in worker processes")


@dataclass
class _Cam:
    """Main-process state of one camera."""

    index: int
    id: str
    pipeline: CameraPipeline
    planner: DetectionPlanner | None = None
    ring: FrameRing | None = None
    busy: tuple[tuple, DetectPlan] | None = None  # the frame message at the detector, and its plan
    waiting: deque = field(default_factory=deque)  # frame messages behind it, oldest first
    eof: bool = False
    capture: dict[str, float] = field(default_factory=dict)


class Node:
    """Run every camera of `cfg` live. `capture_overrides` adjust the capture specs per camera index (the
    bench uses them for looping files with staggered start offsets)."""

    def __init__(self, cfg: NodeConfig, *, event_sinks: list[EventSink] | None = None,
                 stats_sinks: list[StatsSink] | None = None, worker_spec: WorkerSpec | None = None,
                 capture_overrides: Callable[[CaptureSpec], CaptureSpec] | None = None,
                 frame_hooks: list[FrameHook] | None = None, file_speed: float = 1.0) -> None:
        self.cfg = cfg
        self.event_sinks = list(event_sinks or [])
        self.frame_hooks = list(frame_hooks or [])
        self.stats_sinks = list(stats_sinks or [])
        self.worker_spec = worker_spec or default_worker_spec(cfg)
        self.capture_overrides = capture_overrides
        self.stats = NodeStats([c.id for c in cfg.cameras])
        self._stop = mp.get_context("spawn").Event()
        self._cams = [_Cam(i, c.id, CameraPipeline(cfg, c.id, _no_inline_detector)) for i, c in enumerate(cfg.cameras)]
        self.file_speed = file_speed  # file cameras and microphones play this many times real time (tests)
        self.clips = self.audio = None  # evidence clips (edge/node_clips.py), microphones (edge/node_audio.py)
        if cfg.clips is not None:
            from edge.node_clips import LiveClips

            self.clips = LiveClips(cfg)
            self.event_sinks.append(self.clips.on_event)
        if any(w.microphone for w in cfg.windows):
            from edge.node_audio import NodeAudio

            self.audio = NodeAudio.build(cfg, speed=file_speed)
            if self.clips is not None and self.audio is not None:
                self.audio.hooks.append(self.clips.on_input_audio)

    def stop(self) -> None:
        self._stop.set()

    def run(self, duration_s: float | None = None, *, warmup_s: float = 0.0, settle_lag_s: float | None = None,
            settle_max_s: float = 30.0) -> NodeStats:
        """Run until stopped, every source ended, or `duration_s` after the warm-up. With `warmup_s` > 0,
        counters and stage times start only `warmup_s` after every camera delivered its first frame (process
        start-up is not what a node costs in operation) and, with `settle_lag_s`, after every capture has
        caught up with its camera to within that lag: starting twenty decoders and their first full-frame
        passes at once leaves them up to ~2 s behind for several seconds, which is start-up, not operation.
        The wait is capped at `settle_max_s` (a node that never catches up is measured anyway); the seconds
        it took are reported as `settle_s` (None when the cap was hit)."""
        import cv2
        import zmq

        cv2.setNumThreads(1)  # the motion gate works on small frames: threads would cost more than they save
        rt = self.cfg.runtime
        workers = rt.detector_workers or max(1, len(affinity()))
        pool = DetectorPool(self.worker_spec, workers=workers, inflight_per_worker=rt.inflight_per_worker)
        tmp = tempfile.mkdtemp(prefix="hallwatch-node-")
        address = f"ipc://{tmp}/frames"
        sock = zmq.Context.instance().socket(zmq.PULL)
        sock.setsockopt(zmq.LINGER, 0)
        sock.bind(address)
        if self.audio is not None:
            self.audio.start()
        procs = self._start_captures(address, tmp)
        if self.clips is not None:
            self.clips.start()
        for i, cam in enumerate(self._cams):
            cam.planner = DetectionPlanner(self.cfg.gating, crop_wh=pool.crop_hw[::-1], full_wh=pool.full_hw[::-1],
                                           crop_shapes=[(w, h) for h, w in pool.crop_sizes],
                                           full_offset_s=full_offset_s(self.cfg.gating, i, len(self._cams)))
        self.stats.start(workers=workers, processes=procs + pool.processes)
        t_warm: float | None = None
        t_running: float | None = None  # when every camera had delivered a frame
        measuring = warmup_s <= 0
        t_end = None if duration_s is None or not measuring else time.monotonic() + duration_s
        next_stats = time.monotonic() + rt.stats_every_s
        poller = zmq.Poller()
        poller.register(sock, zmq.POLLIN)
        poller.register(pool.socket, zmq.POLLIN)
        try:
            while not self._stop.is_set() and not all(c.eof and c.busy is None for c in self._cams):
                now = time.monotonic()
                if not measuring and t_running is None and all(c.ring is not None for c in self._cams):
                    t_running = now
                if not measuring and t_warm is None and t_running is not None:
                    lag = self.stats.capture_lag_s()
                    settled = settle_lag_s is None or (lag is not None and lag <= settle_lag_s)
                    if settled or now - t_running >= settle_max_s:
                        t_warm = now + warmup_s
                        self.stats.settle_s = round(now - t_running, 2) if settled else None
                if not measuring and t_warm is not None and now >= t_warm:
                    measuring = True
                    self.stats.reset_counters()
                    t_end = None if duration_s is None else now + duration_s
                if t_end is not None and now >= t_end:
                    break
                if now >= next_stats:
                    next_stats = now + rt.stats_every_s
                    self._publish_stats()
                ready = dict(poller.poll(50))
                if self.audio is not None:
                    self.audio.drain()
                if sock in ready:
                    self._drain_frames(sock, pool)
                if pool.socket in ready:
                    for res in pool.poll(0):
                        self._on_result(res, pool)
        finally:
            self._stop.set()
            self.stats.finish()
            for res in pool.drain(5.0):
                self._on_result(res, pool, process=False)
            self._release_all()
            self._shutdown_drain(sock, 60.0 if self.clips is not None else 10.0)
            if self.audio is not None:
                self.audio.stop()
            if self.clips is not None:
                self._emit(self.clips.finish())
            for p in procs:
                p.join(10)
                if p.is_alive():
                    p.terminate()
            pool.close()
            sock.close()
            for cam in self._cams:
                if cam.ring is not None:
                    cam.ring.close()
            shutil.rmtree(tmp, ignore_errors=True)
        self._publish_stats()
        return self.stats

    # ---- processes -------------------------------------------------------------------------------------
    def _start_captures(self, address: str, tmp: str) -> list:
        ctx = mp.get_context("spawn")
        rt = self.cfg.runtime
        procs = []
        for cam, c in zip(self._cams, self.cfg.cameras, strict=True):
            spec = CaptureSpec(cam.index, c.id, c.source, c.detect_fps, address, decoder_threads=c.decoder_threads,
                               ring_slots=rt.ring_slots, late_after_s=rt.late_after_s,
                               reconnect_max_s=c.reconnect_max_s, nice=rt.capture_nice, speed=self.file_speed,
                               **(self.clips.capture_kwargs(c.id, tmp) if self.clips is not None else {}))
            if self.capture_overrides is not None:
                spec = self.capture_overrides(spec)
            p = ctx.Process(target=capture_main, args=(spec, self._stop), daemon=True, name=f"hallwatch-capture-{c.id}")
            p.start()
            procs.append(p)
        return procs

    def _shutdown_drain(self, sock, timeout_s: float = 10.0) -> None:  # noqa: ANN001 - a zmq socket
        """After stop: hand back frames still in the socket, take the captures' last stats (and clips),
        until every capture said eof (so each can remove its ring)."""
        deadline = time.monotonic() + timeout_s
        while not all(c.eof for c in self._cams) and time.monotonic() < deadline:
            if sock.poll(100):
                self._drain_frames(sock, None)

    # ---- frames ----------------------------------------------------------------------------------------
    def _drain_frames(self, sock, pool: DetectorPool | None) -> None:  # noqa: ANN001 - a zmq socket
        """Handle every message waiting from the captures; without a pool (shutdown) frames are dropped."""
        import zmq

        while True:
            try:
                msg = pickle.loads(sock.recv(zmq.NOBLOCK))
            except zmq.Again:
                return
            cam = self._cams[msg[1]]
            kind = msg[0]
            if kind == "frame" and pool is not None:
                self._on_frame(cam, msg, pool)
            elif kind == "frame" and cam.ring is not None:
                cam.ring.retain(msg[2], msg[3])
                self._drop(cam, msg, "shutdown")
            elif kind == "hello":
                cam.ring = FrameRing.attach(msg[2])
            elif kind == "stats":
                cam.capture = msg[2]
                self.stats.capture(cam.id, msg[2])
            elif kind in ("clip", "clipstats") and self.clips is not None:
                self.clips.on_capture(kind, cam.id, msg[2])
            elif kind == "eof":
                cam.eof = True
                log.info("camera %s: capture %s", cam.id, msg[2])

    def _on_frame(self, cam: _Cam, msg: tuple, pool: DetectorPool) -> None:
        assert cam.ring is not None
        _, _, slot, gen, ts, put_wall = msg
        cam.ring.retain(slot, gen)
        self.stats.count(cam.id, "received")
        if cam.busy is not None:
            if len(cam.waiting) >= self.cfg.runtime.camera_queue:
                self._drop(cam, cam.waiting.popleft(), "replaced")
            cam.waiting.append(msg)
            return
        self._start(cam, msg, pool)

    def _start(self, cam: _Cam, msg: tuple, pool: DetectorPool) -> None:
        assert cam.ring is not None and cam.planner is not None
        _, _, slot, gen, ts, put_wall = msg
        if time.time() - put_wall > self.cfg.runtime.late_after_s:
            self.stats.count(cam.id, "late")
        image = cam.ring.view(slot, gen)
        grey = cam.ring.spec.grey(image)  # the gate's view: no copy
        with self.stats.timed("motion"):
            motion = cam.planner.gate.update(grey, ts)
        with self.stats.timed("crop"):
            plan = cam.planner.plan(grey, ts, cam.pipeline.state.people, motion=motion)
        if plan.kind == "skip":
            self._finish(cam, msg, plan, Detections.empty())
            return
        cam.busy = (msg, plan)
        job = Job(cam.index, int(ts * 1000), cam.ring.spec, slot, gen, plan.kind,
                  plan.regions if plan.kind == "regions" else np.zeros((0, 4), np.int32), inputs=plan.inputs)
        for old in pool.submit(job):  # with one frame per camera at the detector this stays empty
            self._drop_job(old)

    def _on_result(self, res: Result, pool: DetectorPool, *, process: bool = True) -> None:
        cam = self._cams[res.job.camera]
        self.stats.add_ms("inference", res.cpu_ms)
        self.stats.count(cam.id, "inferred")
        if cam.busy is None:
            return
        msg, plan = cam.busy
        cam.busy = None
        if not process:
            self._drop(cam, msg, "shutdown")
            return
        self._finish(cam, msg, plan, res.dets)
        while cam.waiting and cam.busy is None:  # skipped frames finish at once; stop at the next detector job
            self._start(cam, cam.waiting.popleft(), pool)

    def _finish(self, cam: _Cam, msg: tuple, plan: DetectPlan, found: Detections) -> None:
        assert cam.ring is not None and cam.planner is not None
        _, _, slot, gen, ts, _ = msg
        image = cam.ring.frames[slot]
        h, w = cam.ring.spec.frame_hw
        wh = (w, h)
        with self.stats.timed("crop"):
            people = cam.planner.combine(plan, found)
        with self.stats.timed("tracking"):
            tracked = cam.pipeline.tracker.update(people[people.class_id == PERSON_CLASS_ID], ts)
        with self.stats.timed("rules"):
            events = cam.pipeline.apply_rules(tracked, wh, ts)
        if self.audio is not None:
            with self.stats.timed("rules"):
                counts = {w: n for c in self._cams for w, n in c.pipeline.state.counter_people().items()}
                events = events + self.audio.update(ts, counts)
        with self.stats.timed("publishing"):
            self._emit(events)
            for hook in self.frame_hooks:
                hook(cam.id, cam.pipeline, events)
            if self.clips is not None:  # pending events go to the capture (a start with this frame)
                if self.clips.has_pending(cam.id):
                    self.clips.on_frame(cam.id, Frame(ts, cam.ring.spec.bgr(image)), cam.pipeline.state.people)
                self._emit(self.clips.poll())
        cam.ring.release(slot, gen)
        self.stats.count(cam.id, "processed")
        self.stats.count(cam.id, "events", len(events))

    def _emit(self, events: list[Event]) -> None:
        for ev in events:
            for sink in self.event_sinks:
                sink(ev)

    def _drop(self, cam: _Cam, msg: tuple, why: str) -> None:
        assert cam.ring is not None
        cam.ring.release(msg[2], msg[3])
        self.stats.count(cam.id, why)

    def _drop_job(self, job: Job) -> None:
        cam = self._cams[job.camera]
        if cam.busy is not None:
            msg, _ = cam.busy
            cam.busy = None
            self._drop(cam, msg, "detector_dropped")

    def _release_all(self) -> None:
        for cam in self._cams:
            for msg in ([cam.busy[0]] if cam.busy else []) + list(cam.waiting):
                self._drop(cam, msg, "shutdown")
            cam.busy = None
            cam.waiting.clear()

    def _publish_stats(self) -> None:
        for cam in self._cams:
            if cam.planner is not None:
                self.stats.gating(cam.id, cam.planner.stats)
        snap = self.stats.as_dict()
        if self.audio is not None:
            snap["audio"] = self.audio.levels()
        if self.clips is not None:
            snap["clips"] = self.clips.stats()
        for sink in self.stats_sinks:
            sink(snap)


__all__ = ["Node", "RingSpec", "default_worker_spec"]
