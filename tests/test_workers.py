"""Detector worker processes: frames by reference, results in order per camera, and the drop policy under an
overloaded detector (a deliberately slow stand-in detector, so the overload is certain, not timed)."""

from __future__ import annotations

import time

import cv2
import numpy as np
import pytest

from detectors import i420
from detectors.types import Detections
from edge.detector_pool import DetectorPool
from edge.frame_ring import FrameRing
from edge.workers import Job, WorkerSpec

SHAPE = (72, 128, 3)


class DarkBoxDetector:
    """Finds the dark rectangle in its input (deterministic stand-in for a network); `delay_s` overloads it."""

    def __init__(self, input_hw: tuple[int, int], delay_s: float) -> None:
        self.input_hw = input_hw
        self.delay_s = delay_s

    def __call__(self, image: np.ndarray) -> Detections:
        time.sleep(self.delay_s)
        ys, xs = np.nonzero(image[..., 0] < 50)
        if len(xs) == 0:
            return Detections.empty()
        box = [[xs.min(), ys.min(), xs.max() + 1, ys.max() + 1]]
        return Detections(np.array(box, np.float32), np.array([0.9], np.float32), np.zeros(1, np.int32))

    def detect_batch(self, images: list[np.ndarray]) -> list[Detections]:
        return [self(i) for i in images]


class SizedDarkBoxDetector(DarkBoxDetector):
    """DarkBoxDetector that also runs at other square inputs and reports which one as its score (side / 1000)."""

    def __init__(self, input_hw: tuple[int, int]) -> None:
        super().__init__(input_hw, 0.0)
        self.sizes = [input_hw]

    def add_sizes(self, sides: tuple[int, ...]) -> list[tuple[int, int]]:
        self.sizes += [(s, s) for s in sides]
        return self.sizes

    def __call__(self, image: np.ndarray, input_hw: tuple[int, int] | None = None) -> Detections:
        found = super().__call__(image)
        side = (input_hw or self.input_hw)[0]
        return Detections(found.xyxy, np.full(len(found), side / 1000, np.float32), found.class_id)

    def detect_batch(self, images: list[np.ndarray], input_hw: tuple[int, int] | None = None) -> list[Detections]:
        return [self(i, input_hw) for i in images]


def sized_pair(spec: WorkerSpec) -> tuple[DarkBoxDetector, SizedDarkBoxDetector]:
    return DarkBoxDetector((64, 64), 0.0), SizedDarkBoxDetector((32, 32))


def fast_pair(spec: WorkerSpec) -> tuple[DarkBoxDetector, DarkBoxDetector]:
    return DarkBoxDetector((64, 64), 0.0), DarkBoxDetector((32, 32), 0.0)


def slow_pair(spec: WorkerSpec) -> tuple[DarkBoxDetector, DarkBoxDetector]:
    return DarkBoxDetector((64, 64), 0.2), DarkBoxDetector((32, 32), 0.2)


def picture(x: int) -> np.ndarray:
    img = np.full(SHAPE, 200, np.uint8)
    img[20:50, x:x + 10] = 10
    return img


def make_rings(pixel_format: str) -> list[FrameRing]:
    shape = SHAPE if pixel_format == "bgr24" else i420.i420_shape(*SHAPE[:2])
    return [FrameRing.create(4, shape, pixel_format=pixel_format) for _ in range(3)]


@pytest.fixture
def rings():
    made = make_rings("i420")  # what the live node's captures make
    yield made
    for r in made:
        r.close()


@pytest.fixture(params=["bgr24", "i420"])
def both_rings(request):
    made = make_rings(request.param)
    yield made
    for r in made:
        r.close()


def stored(ring: FrameRing, image: np.ndarray) -> np.ndarray:
    """The BGR picture as the ring holds it (I420 rings: as a camera's decoder would deliver it)."""
    return cv2.cvtColor(image, cv2.COLOR_BGR2YUV_I420) if ring.spec.pixel_format == "i420" else image


def test_workers_read_frames_by_reference_and_map_crops_back(both_rings: list[FrameRing]) -> None:
    """Full frames and crops (cut at odd pixel positions) of BGR and I420 rings find the same boxes."""
    rings = both_rings
    pool = DetectorPool(WorkerSpec(full={}, factory="tests.test_workers:fast_pair"), workers=2)
    try:
        expected = {}
        for cam, ring in enumerate(rings):
            x = 11 + 30 * cam
            slot, gen = ring.put(stored(ring, picture(x)), 0.0)  # type: ignore[misc]
            ring.retain(slot, gen)
            kind = "full" if cam == 0 else "regions"
            regions = np.array([[x - 5, 9, x + 27, 42], [x - 5, 15, x + 27, 55]], np.int32)  # 1st cuts the person
            assert pool.submit(Job(cam, 0, ring.spec, slot, gen, kind, regions)) == []
            expected[cam] = [x, 20, x + 10, 50]
        results = pool.drain()
        assert len(results) == 3 and all(r.error is None for r in results)
        for r in results:
            assert len(r.dets) == 1
            assert np.allclose(r.dets.xyxy[0], expected[r.job.camera]), r.job.camera
            rings[r.job.camera].release(r.job.slot, r.job.gen)
        assert all(ring.held() == 0 for ring in rings)
    finally:
        pool.close()


def test_overloaded_detector_drops_waiting_frames_by_policy_and_counts_them(rings: list[FrameRing]) -> None:
    """Three cameras submit 8 frames each at once to one slow worker: each camera keeps at most one job
    in flight and one waiting (the newest); every other frame is dropped, counted and handed back."""
    pool = DetectorPool(WorkerSpec(full={}, factory="tests.test_workers:slow_pair"), workers=1)
    try:
        dropped: list[Job] = []
        results = []
        for seq in range(8):
            for cam, ring in enumerate(rings):
                slot, gen = ring.put(stored(ring, picture(10)), float(seq)) or (None, None)
                if slot is None:  # the ring is full: the capture side drops (its own counted policy)
                    continue
                ring.retain(slot, gen)
                dropped += pool.submit(Job(cam, seq, ring.spec, slot, gen, "full"))
                for job in dropped:
                    rings[job.camera].release(job.slot, job.gen)
                dropped.clear()
                assert pool.pending() <= 2 * len(rings)
            results += pool.poll(0)
        for r in results:
            rings[r.job.camera].release(r.job.slot, r.job.gen)
        finished = pool.drain()
        for r in finished:
            rings[r.job.camera].release(r.job.slot, r.job.gen)
        results += finished
        s = pool.stats
        assert s.submitted == s.done + s.dropped
        assert s.dropped >= 24 - 2 * len(rings) - len(results)
        assert s.dropped > 0 and pool.pending() == 0
        for cam in range(len(rings)):  # each camera's frames come back in order
            seqs = [r.job.seq for r in results if r.job.camera == cam]
            assert seqs == sorted(seqs) and seqs[-1] == 7  # the newest frame is never the one dropped
        assert all(ring.held() == 0 for ring in rings)
        assert s.as_dict()["policy"] == "latest_per_camera"
    finally:
        pool.close()


def test_waiting_jobs_of_several_cameras_go_to_a_free_worker_as_one_batch(rings: list[FrameRing]) -> None:
    pool = DetectorPool(WorkerSpec(full={}, factory="tests.test_workers:slow_pair"), workers=1)
    try:
        for cam, ring in enumerate(rings):  # the first goes at once; the other two wait for the worker
            slot, gen = ring.put(stored(ring, picture(10 + 20 * cam)), 0.0)  # type: ignore[misc]
            ring.retain(slot, gen)
            regions = np.array([[0, 0, 64, 72]], np.int32) if cam else np.zeros((0, 4), np.int32)
            pool.submit(Job(cam, 0, ring.spec, slot, gen, "regions" if cam else "full", regions))
        results = pool.drain()
        assert pool.stats.dispatched == 3 and pool.stats.batches == 2
        for r in results:
            x = 10 + 20 * r.job.camera
            assert r.error is None and np.allclose(r.dets.xyxy, [[x, 20, x + 10, 50]])
            rings[r.job.camera].release(r.job.slot, r.job.gen)
    finally:
        pool.close()


def test_each_crop_runs_at_the_input_size_its_job_names(rings: list[FrameRing]) -> None:
    """gating.crop_sizes: the workers say which inputs their crop detector runs at, and run every crop of
    a job at the input the planner chose for it (empty: the model's own)."""
    pool = DetectorPool(WorkerSpec(full={}, factory="tests.test_workers:sized_pair", crop_sizes=(16, 64)), workers=1)
    try:
        assert pool.crop_sizes == [(32, 32), (16, 16), (64, 64)]
        wanted = {0: [[16, 16]], 1: [], 2: [[64, 64]]}
        for cam, ring in enumerate(rings):
            x = 10 + 20 * cam
            slot, gen = ring.put(stored(ring, picture(x)), 0.0)  # type: ignore[misc]
            ring.retain(slot, gen)
            regions = np.array([[x - 6, 10, x + 26, 60]], np.int32)
            pool.submit(Job(cam, 0, ring.spec, slot, gen, "regions", regions,
                            inputs=np.array(wanted[cam], np.int32).reshape(-1, 2)))
        results = pool.drain()
        assert len(results) == 3
        for r in results:
            x = 10 + 20 * r.job.camera
            assert r.error is None and np.allclose(r.dets.xyxy, [[x, 20, x + 10, 50]])
            assert r.dets.confidence[0] == pytest.approx({0: 0.016, 1: 0.032, 2: 0.064}[r.job.camera])
            rings[r.job.camera].release(r.job.slot, r.job.gen)
    finally:
        pool.close()


def test_bad_pool_settings_are_rejected() -> None:
    with pytest.raises(ValueError, match="worker"):
        DetectorPool(WorkerSpec(full={}), workers=0)


# ---- the live node: real capture processes on real footage, the stand-in detector in real workers ------

def slower_pair(spec: WorkerSpec) -> tuple[DarkBoxDetector, DarkBoxDetector]:
    return DarkBoxDetector((64, 64), 0.4), DarkBoxDetector((32, 32), 0.4)


def node_config(clip: str, cameras: int, *, gating: bool):  # noqa: ANN201 - NodeConfig
    from edge.config import CameraConfig, NodeConfig, WindowConfig

    cams = [CameraConfig(id=f"c{i}", source=clip, detect_fps=5) for i in range(cameras)]
    wins = [WindowConfig(id=f"W{i}", camera=c.id, post=[[0.4, 0.6], [0.8, 0.6], [0.8, 1.0], [0.4, 1.0]])
            for i, c in enumerate(cams)]
    cfg = NodeConfig(site="t", node="n", cameras=cams, windows=wins)
    cfg.gating.enabled = gating
    cfg.runtime.detector_workers = 1
    cfg.runtime.camera_queue = 1
    return cfg


def accounted(per_camera: dict) -> bool:
    """Every frame that reached the main process was processed or dropped with a named reason."""
    return all(c.get("received", 0) == c.get("processed", 0) + c.get("replaced", 0) + c.get("shutdown", 0)
               + c.get("detector_dropped", 0) for c in per_camera.values())


@pytest.mark.slow
def test_node_under_an_overloaded_detector_drops_oldest_and_counts_every_frame() -> None:
    """Two cameras at 5 fps, every frame to one worker that needs 0.4 s per frame: at most 2.5 of the
    10 frames per second can be analysed; the rest are dropped by the named policy and counted."""
    from dataclasses import replace

    from edge.node import Node
    from tests.assets import asset_or_skip as asset

    clip = str(asset("footage/people-detection.gif"))
    cfg = node_config(clip, 2, gating=False)
    spec = WorkerSpec(full={}, factory="tests.test_workers:slower_pair")
    node = Node(cfg, worker_spec=spec, capture_overrides=lambda s: replace(s, loop=True, paced=True))
    stats = node.run(4.0).as_dict()
    assert stats["drops"]["replaced"] > 0 and stats["dropped_total"] >= stats["drops"]["replaced"]
    assert stats["analysed_frames"] > 0
    assert accounted(stats["per_camera"]), stats["per_camera"]
    assert stats["memory"]["processes"] == 4  # 2 capture + 1 worker + this process


@pytest.mark.slow
def test_node_with_gating_runs_the_per_frame_path_and_publishes_stats() -> None:
    from dataclasses import replace

    from edge.node import Node
    from tests.assets import asset_or_skip as asset

    clip = str(asset("footage/people-detection.gif"))
    cfg = node_config(clip, 1, gating=True)
    snaps: list[dict] = []
    spec = WorkerSpec(full={}, factory="tests.test_workers:fast_pair")
    node = Node(cfg, worker_spec=spec, stats_sinks=[snaps.append], capture_overrides=lambda s: replace(s, paced=True))
    stats = node.run(None).as_dict()  # until the 1.8 s clip ends
    assert snaps and snaps[-1]["analysed_frames"] == stats["analysed_frames"] > 0
    assert accounted(stats["per_camera"])
    assert 0 < stats["inference_fraction"] <= 1
    assert set(stats["stages_ms"]) == {"decode", "motion", "crop", "inference", "tracking", "rules", "publishing"}


@pytest.mark.slow
@pytest.mark.broker
def test_hallwatch_edge_publishes_window_state_and_stats_over_mqtt(tmp_path, mosquitto) -> None:  # noqa: ANN001
    """`hallwatch edge` on a real clip with the real model: the retained window state and the node's stats
    (with its drops) arrive at a real Mosquitto."""
    import json as _json
    import threading

    import paho.mqtt.client as mqtt
    import yaml

    from edge.cli import main
    from tests.assets import asset_or_skip

    clip = asset_or_skip("footage/people-detection.gif")
    model = asset_or_skip("models/yolox_nano.onnx")
    got: dict[str, bytes] = {}
    seen = threading.Event()
    sub = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
    sub.on_message = lambda c, u, m: (got.__setitem__(m.topic, m.payload), seen.set())
    sub.connect("127.0.0.1", mosquitto.port)
    sub.subscribe("hallwatch/t/n/#", qos=1)
    sub.loop_start()
    cfg = {"site": "t", "node": "n", "model": {"path": str(model)},
           "cameras": [{"id": "c0", "source": str(clip), "detect_fps": 5}],
           "windows": [{"id": "W0", "camera": "c0", "post": [[0.4, 0.6], [0.8, 0.6], [0.8, 1.0], [0.4, 1.0]]}],
           "runtime": {"detector_workers": 1},
           "mqtt": {"url": f"mqtt://127.0.0.1:{mosquitto.port}", "outbox": str(tmp_path / "outbox.sqlite"),
                    "wait_for_central": False}}
    path = tmp_path / "node.yaml"
    path.write_text(yaml.safe_dump(cfg))
    try:
        assert main(["edge", str(path), "--events", str(tmp_path / "events.jsonl"),
                     "--stats", str(tmp_path / "stats.json")]) == 0
        for _ in range(50):
            if "hallwatch/t/n/stats" in got and "hallwatch/t/n/windows/W0/state" in got:
                break
            seen.wait(0.1)
    finally:
        sub.loop_stop()
        sub.disconnect()
    stats = _json.loads(got["hallwatch/t/n/stats"])
    assert stats["analysed_frames"] > 0 and "dropped_total" in stats and "stages_ms" in stats
    assert _json.loads(got["hallwatch/t/n/windows/W0/state"])["state"] in {"staffed", "empty", "closed"}
    assert _json.loads((tmp_path / "stats.json").read_text())["analysed_frames"] == stats["analysed_frames"]
