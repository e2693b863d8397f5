"""Unit tables for the storage pieces: pre-roll rings, clip index, retention, snapshots."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np
import pytest

from detectors.types import AudioChunk, Detections
from storage.config import ClipsConfig
from storage.index import ClipIndex
from storage.retention import GB, apply_retention
from storage.ring import PacketRing, RingPacket, SampleRing
from storage.snapshot import FaceBlur, render_snapshot
from tests.assets import asset_or_skip

TB = Fraction(1, 1000)


def _pk(t: float, key: bool, size: int = 100) -> RingPacket:
    return RingPacket(object(), TB, t, t, int(t * 1000), int(t * 1000), key, size)


def _stream(n: int, gop: int, fps: float = 10.0) -> list[RingPacket]:
    return [_pk(i / fps, i % gop == 0) for i in range(n)]


@pytest.mark.parametrize("horizon,n,gop,want_first", [
    (2.0, 100, 10, 7.0),   # newest 9.9: keep from the last keyframe at or before 7.9
    (2.0, 100, 25, 7.5),   # keyframes at 0, 2.5, 5, 7.5: the last one at or before 7.9
    (0.0, 30, 10, 2.0),    # no pre-roll: still starts at a keyframe
    (100.0, 30, 10, 0.0),  # longer than the stream: everything
])
def test_ring_keeps_horizon_from_a_keyframe(horizon: float, n: int, gop: int, want_first: float) -> None:
    ring = PacketRing(horizon, 10**9)
    for p in _stream(n, gop):
        ring.push(p)
    held = ring.since(float("-inf"))
    assert held[0].is_key
    assert held[-1].pts_s == pytest.approx((n - 1) / 10)
    first = held[0].pts_s
    # never less than the horizon (unless the stream is shorter), never a whole GOP more than needed
    assert first <= max(0.0, held[-1].pts_s - horizon) + 1e-9
    assert first == pytest.approx(want_first)


def test_ring_since_picks_the_keyframe_before_and_byte_cap_drops_oldest() -> None:
    ring = PacketRing(100.0, 10**9)
    for p in _stream(50, 10):
        ring.push(p)
    assert ring.since(2.35)[0].pts_s == pytest.approx(2.0)
    assert ring.since(-5)[0].pts_s == 0.0  # before the ring: the oldest held
    capped = PacketRing(100.0, 2500)
    for p in _stream(50, 10):
        capped.push(p)
    assert capped.nbytes <= 2500 and capped.since(-1)[0].is_key and capped.dropped_gops >= 1


def test_ring_skips_packets_before_the_first_keyframe() -> None:
    ring = PacketRing(5.0, 10**9)
    for p in [_pk(0.0, False), _pk(0.1, False), _pk(0.2, True), _pk(0.3, False)]:
        ring.push(p)
    assert [p.pts_s for p in ring.since(-1)] == [0.2, 0.3] and ring.skipped_before_key == 2


def test_sample_ring_cuts_the_first_chunk_at_the_requested_time() -> None:
    ring = SampleRing(1.0)
    for i in range(30):
        ring.push(AudioChunk(i * 0.1, np.full(1600, i, np.float32), 16000))
    got = ring.since(2.05)
    assert got[0].ts == pytest.approx(2.05) and len(got[0].samples) == 800 and got[0].samples[0] == 20
    assert ring.since(0.0)[0].ts >= 1.8  # older chunks are gone


def _index_with_clips(tmp: Path, ages_days: list[float], size: int, now: float) -> ClipIndex:
    idx = ClipIndex(tmp)
    for i, age in enumerate(ages_days):
        rel = f"cam1/d/e{i}-0.mp4"
        idx.abspath(rel).parent.mkdir(parents=True, exist_ok=True)
        idx.abspath(rel).write_bytes(b"x" * 10)
        cid = idx.begin(event_id=f"e{i}", part=0, camera="cam1", window="W1", type="empty_post", path=rel,
                        start_s=0.0, now=now - age * 86400)
        idx.complete(cid, start_s=0.0, end_s=20.0, size_bytes=size, sha256="0" * 64)
    return idx


NOW = 2_000_000_000.0


@pytest.mark.parametrize("ages,keep,protected,max_gb,free_gb,want", [
    ([40, 35, 10, 1], set(), set(), 50, 100, ["e0", "e1"]),           # age only
    ([40, 35, 10, 1], {"e0"}, {"e1"}, 50, 100, []),                 # kept / open alert: never
    ([20, 10, 5, 1], set(), set(), 2.5, 100, ["e0", "e1"]),         # 4 GB held, cap 2.5: oldest first
    ([20, 10, 5, 1], {"e0"}, set(), 2.5, 100, ["e1", "e2"]),        # skip the kept one
    ([20, 10, 5, 1], set(), set(), 50, 0.5, ["e0"]),                # disk low: free grows by 1 GB each
    ([20, 10], {"e0", "e1"}, set(), 0.5, 100, []),                  # only kept clips left: logged, none
])
def test_retention_table(tmp_path: Path, ages: list[float], keep: set[str], protected: set[str],
                         max_gb: float, free_gb: float, want: list[str]) -> None:
    idx = _index_with_clips(tmp_path, ages, int(1 * GB), NOW)
    for eid in keep:
        idx.set_keep(eid)
    cfg = ClipsConfig(dir=str(tmp_path), keep_days=30, max_gb=max_gb, min_free_gb=1.0)

    def free(_: Path) -> int:  # a disk whose free space grows by what retention deletes
        return int(free_gb * GB + (len(ages) - len(idx.list("complete"))) * GB)

    deleted = apply_retention(idx, cfg, protected, NOW, free_bytes=free)
    assert [r.event_id for r in deleted] == want
    for r in deleted:
        assert idx.get(r.id).status == "deleted" and not idx.abspath(r.path).exists()
    assert {r.event_id for r in idx.list("complete")} == {f"e{i}" for i in range(len(ages))} - set(want)


def test_index_lifecycle_and_bad_status(tmp_path: Path) -> None:
    idx = ClipIndex(tmp_path)
    cid = idx.begin(event_id="e1", part=0, camera="c", window=None, type="dispute", path="c/e1-0.mp4",
                    start_s=5.0)
    assert idx.get(cid).status == "recording" and idx.counts()["recording"] == 1
    idx.complete(cid, start_s=5.0, end_s=25.5, size_bytes=123, sha256="ab")
    r = idx.get(cid)
    assert (r.status, r.duration_s, r.size_bytes) == ("complete", 20.5, 123)
    assert idx.set_keep("e1") == 1 and idx.by_event("e1")[0].keep
    with pytest.raises(ValueError, match="clip status 'done'"):
        idx.list("done")
    idx.close()
    assert ClipIndex(tmp_path).get(cid).keep  # persisted


def test_snapshot_draws_zones_and_people() -> None:
    img = np.full((270, 480, 3), 40, np.uint8)
    people = Detections([[100, 50, 160, 200]], [0.9], [0], [7])
    jpeg = render_snapshot(img, zones=[("W1", "post", [[0.5, 0.5], [0.9, 0.5], [0.9, 0.9], [0.5, 0.9]])],
                           people=people, people_wh=(240, 135), title="W1 empty_post")
    out = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
    assert out.shape == img.shape
    assert out[270 // 2 + 2, 480 // 2 + 60].tolist() != [40, 40, 40]   # zone edge at y=0.5 drawn
    assert abs(int(out[100, 200, 1]) - 255) < 60                       # person box (x 100*2) in green
    with pytest.raises(ValueError, match="uint8"):
        render_snapshot(np.zeros((4, 4), np.float32))


@pytest.mark.assets
def test_face_blur_on_real_footage() -> None:
    gif = asset_or_skip("footage/face-demographics-walking-and-pause.gif")
    model = asset_or_skip("models/yunet_s_640_640.onnx")
    with av.open(str(gif)) as c:
        frame = [f.to_ndarray(format="bgr24") for f in c.decode(video=0)][-1]
    blur = FaceBlur(model)
    faces = blur.faces(frame)
    assert len(faces) >= 1
    out = blur.apply(frame)
    x, y, w, h = (int(v) for v in faces[0])
    before = cv2.Laplacian(frame[y:y + h, x:x + w], cv2.CV_64F).var()
    after = cv2.Laplacian(out[y:y + h, x:x + w], cv2.CV_64F).var()
    assert after < before * 0.3  # the face lost its detail
    assert len(blur.faces(out)) < len(faces) or after < before * 0.3
    with pytest.raises(FileNotFoundError, match="YuNet model"):
        FaceBlur("/nonexistent/yunet.onnx")
