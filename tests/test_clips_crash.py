"""Crash safety of the clip store: kill -9 a real recorder while it writes a clip, restart, and the index
and the files must agree (no half file called complete, no stray temp file, nothing silently kept)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import av
import pytest

from storage.clip_writer import file_sha256, part_path
from storage.index import ClipIndex
from storage.recovery import recover
from tests.assets import asset_or_skip

REPO = Path(__file__).resolve().parent.parent
VIDEO = "footage/one-by-one-person-detection.mp4"

CHILD = r"""
import sys, time, av
from tests.packets import timed_packets
from detectors.types import Event
from storage.config import ClipsConfig
from storage.index import ClipIndex
from storage.recorder import ClipRecorder
video, clip_dir = sys.argv[1], sys.argv[2]
cfg = ClipsConfig(dir=clip_dir, pre_s=5, post_s=5, max_s=20)
index = ClipIndex(clip_dir)
with av.open(video) as c:
    vs = c.streams.video[0]
    rec = ClipRecorder("cam1", cfg, index, vs, mic_rate=None)
    for pkt, t in timed_packets(c, vs):
        rec.push_packet(pkt)
        if abs(t - 8.0) < 1e-6:
            rec.on_event(Event("e-long", "empty_post", "start", "s", "n", "cam1", "W1", t, t))
        if t > 8:
            time.sleep(0.01)  # slow enough that the parent can kill it mid-clip
    rec.close()
print("FINISHED WITHOUT BEING KILLED", flush=True)
"""


@pytest.fixture
def video() -> Path:
    return asset_or_skip(VIDEO)


def _wait_for_mid_clip(clip_dir: Path, proc: subprocess.Popen, deadline_s: float = 60.0) -> None:
    """Block until one part is complete and the next `.part` holds data (or fail if the child ends)."""
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        assert proc.poll() is None, "the recorder ended before it could be killed"
        parts = list(clip_dir.rglob("*.part.mp4"))
        finals = [f for f in clip_dir.rglob("*.mp4") if not f.name.endswith((".part.mp4", ".tmp.mp4"))]
        if finals and parts and max(p.stat().st_size for p in parts) > 60_000:
            return
        time.sleep(0.05)
    pytest.fail("no clip was being written within the deadline")


@pytest.mark.assets
@pytest.mark.slow
def test_kill_9_mid_clip_then_restart_is_consistent(tmp_path: Path, video: Path) -> None:
    clip_dir = tmp_path / "clips"
    proc = subprocess.Popen([sys.executable, "-c", CHILD, str(video), str(clip_dir)], cwd=REPO,
                            env={**os.environ, "PYTHONPATH": str(REPO)}, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    try:
        _wait_for_mid_clip(clip_dir, proc)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
    assert proc.returncode == -signal.SIGKILL

    index = ClipIndex(clip_dir)  # the restart
    before = {r.id: r.status for r in index.list()}
    assert "recording" in before.values(), "the kill should have left a clip being recorded"
    report = recover(index)
    rows = index.list()
    assert not [r for r in rows if r.status == "recording"]
    assert set(report.finished) | set(report.failed) >= {i for i, s in before.items() if s == "recording"}
    for r in rows:
        path = index.abspath(r.path)
        if r.status == "complete":
            assert (r.size_bytes, r.sha256) == file_sha256(path)
            with av.open(str(path)) as c:
                frames = sum(1 for _ in c.decode(video=0))
            assert frames > 0
            assert r.recovered == (before[r.id] == "recording")
        else:
            assert r.status == "failed" and not path.exists() and not part_path(path).exists()
    on_disk = {f.relative_to(clip_dir).as_posix() for f in clip_dir.rglob("*.mp4")}
    assert on_disk == {r.path for r in rows if r.status == "complete"}
    assert recover(index).finished == []  # idempotent


def test_recover_resolves_each_crash_point(tmp_path: Path, video: Path) -> None:
    """The three places a crash can fall, staged with real files: after the rename but before the index
    update (kept, it was fsynced), before any data (failed), and stray temp/unknown files (removed)."""
    index = ClipIndex(tmp_path)
    renamed = index.begin(event_id="e1", part=0, camera="cam1", window="W1", type="empty_post",
                          path="cam1/d/e1-0.mp4", start_s=1.0)
    empty = index.begin(event_id="e2", part=0, camera="cam1", window="W1", type="empty_post",
                        path="cam1/d/e2-0.mp4", start_s=2.0)
    garbage = index.begin(event_id="e3", part=0, camera="cam1", window="W1", type="empty_post",
                          path="cam1/d/e3-0.mp4", start_s=3.0)
    (tmp_path / "cam1/d").mkdir(parents=True)
    final = index.abspath("cam1/d/e1-0.mp4")
    final.write_bytes(video.read_bytes()[:200_000])  # any bytes: it was complete when renamed
    part_path(index.abspath("cam1/d/e3-0.mp4")).write_bytes(b"\0" * 5000)  # nothing readable
    (tmp_path / "cam1/d/e9-0.tmp.mp4").write_bytes(b"x")
    (tmp_path / "cam1/d/unknown.mp4").write_bytes(b"x")
    rep = recover(index)
    assert rep.finished == [renamed] and sorted(rep.failed) == [empty, garbage]
    assert index.get(renamed).status == "complete" and index.get(renamed).sha256 == file_sha256(final)[1]
    assert {f.name for f in (tmp_path / "cam1/d").iterdir()} == {"e1-0.mp4"}
    assert sorted(rep.removed) == ["cam1/d/e9-0.tmp.mp4", "cam1/d/unknown.mp4"]


FULL_DISK_CHILD = r"""
import json, resource, signal, sys, av
from tests.packets import timed_packets
from detectors.types import Event
from storage.config import ClipsConfig
from storage.index import ClipIndex
from storage.recorder import ClipRecorder
video, clip_dir = sys.argv[1], sys.argv[2]
index = ClipIndex(clip_dir)
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # writes past the limit fail with EFBIG, like a full disk
resource.setrlimit(resource.RLIMIT_FSIZE, (150_000, resource.RLIM_INFINITY))
pushed = 0
with av.open(video) as c:
    vs = c.streams.video[0]
    rec = ClipRecorder("cam1", ClipsConfig(dir=clip_dir), index, vs)
    for pkt, t in timed_packets(c, vs):
        rec.push_packet(pkt)
        pushed += 1
        for start in (20.0, 60.0):
            if abs(t - start) < 1e-6:
                rec.on_event(Event(f"e{start:g}", "empty_post", "start", "s", "n", "cam1", "W1", t, t))
            if abs(t - start - 15) < 1e-6:
                rec.on_event(Event(f"e{start:g}", "empty_post", "end", "s", "n", "cam1", "W1", t, start))
    rec.close()
print(json.dumps({"pushed": pushed, "stats": rec.stats, "counts": index.counts()}))
"""


@pytest.mark.assets
def test_full_disk_fails_clips_loudly_and_never_stops_the_loop(tmp_path: Path, video: Path) -> None:
    import json

    clip_dir = tmp_path / "clips"
    out = subprocess.run([sys.executable, "-c", FULL_DISK_CHILD, str(video), str(clip_dir)], cwd=REPO,
                         env={**os.environ, "PYTHONPATH": str(REPO)}, capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    res = json.loads(out.stdout.strip().splitlines()[-1])
    with av.open(str(video)) as c:
        total = sum(1 for p in c.demux(video=0) if p.size)
    assert res["pushed"] == total  # the frame loop went on to the end
    assert res["stats"]["clips_failed"] == 2 and res["stats"]["clips_complete"] == 0
    assert res["counts"]["failed"] == 2 and res["counts"]["recording"] == 0
    assert "failed" in out.stderr  # logged as errors
    assert list(clip_dir.rglob("*.mp4")) == []  # no half file left behind
