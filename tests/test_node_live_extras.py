"""The live node (`edge.node.Node`: capture processes, detector workers, the real model) with evidence
clips and microphones: real footage and audio files played like live sources (paced, at 2x real time to
keep the tests short), clips written by the capture processes, disputes raised from the microphones."""

from __future__ import annotations

import threading
from pathlib import Path

import av
import pytest

from detectors.types import Event
from storage.config import ClipsConfig
from storage.index import ClipIndex
from tests.assets import asset_or_skip
from tests.test_clips_real_footage import _original, _run_start

pytestmark = [pytest.mark.assets, pytest.mark.slow]
VIDEO = "footage/one-by-one-person-detection.mp4"
SPEED = 2.0  # media seconds per wall second (the files are paced like cameras, only faster)
MAX_WALL_S = 45.0  # a safety stop; the tests stop the node as soon as what they wait for arrived


def _run_until(node, done: threading.Event) -> dict:  # noqa: ANN001 - a Node
    """Run the node until a sink sets `done` (or MAX_WALL_S passed); returns the last published stats
    (the node's counters plus `clips` / `audio`)."""
    stopper = threading.Thread(target=lambda: (done.wait(MAX_WALL_S), node.stop()), daemon=True)
    stopper.start()
    snaps: list[dict] = []
    node.stats_sinks.append(snaps.append)
    try:
        node.run(None)
        return snaps[-1]
    finally:
        done.set()
        stopper.join(5.0)


def _video_packets(path: Path) -> list[bytes]:
    with av.open(str(path)) as c:
        assert c.streams.video[0].codec_context.name == "h264"
        return [bytes(p) for p in c.demux(video=0) if p.size]


def test_live_node_records_the_clip_of_an_empty_post_alert(tmp_path: Path) -> None:
    from edge.cli_demo import demo_config
    from edge.node import Node

    video = asset_or_skip(VIDEO)
    asset_or_skip("models/yolox_nano.onnx")
    cfg = demo_config(video.parent.parent)
    cfg.clips = ClipsConfig(dir=str(tmp_path / "clips"), pre_s=4.0, post_s=2.0)
    cfg.runtime.detector_workers = 1
    events: list[Event] = []
    got_clip = threading.Event()

    def sink(ev: Event) -> None:
        events.append(ev)
        if ev.state == "update" and ev.clip:
            got_clip.set()

    node = Node(cfg, event_sinks=[sink], file_speed=SPEED)
    stats = _run_until(node, got_clip)

    starts = {e.event_id: e for e in events if e.state == "start" and e.type == "empty_post"}
    updates = [e for e in events if e.state == "update" and e.clip]
    assert starts, "the footage starts with an empty spell: an empty-post alert"
    assert updates and all(u.event_id in starts for u in updates), (updates, list(starts))
    index = ClipIndex(cfg.clips.dir)
    orig = _original(video)
    for u in updates:
        rec = next(r for r in index.by_event(u.event_id) if r.path == u.clip)
        assert rec.status == "complete" and rec.camera == "cam1", rec
        data = _video_packets(index.abspath(rec.path))
        first = _run_start(orig, data)
        assert orig[first][3], "a clip starts at a keyframe"
        assert [o[0] for o in orig[first:first + len(data)]] == data  # the camera's bytes, not re-encoded
        assert rec.start_s <= starts[u.event_id].t  # the pre-roll: from before the alert
        assert index.abspath(rec.snapshot).read_bytes()[:3] == b"\xff\xd8\xff"
    assert stats["clips"]["clips_complete"] >= 1 and stats["clips"]["clips_failed"] == 0, stats["clips"]
    assert stats["clips"]["packets_dropped"] == 0 and stats["clips"]["commands_dropped"] == 0


def test_live_node_raises_a_dispute_from_a_microphone_at_its_window(tmp_path: Path) -> None:
    from edge.config import load_config
    from edge.node import Node
    from edge.replay import apply_overrides
    from tests.audiogen import build_hall_set

    video = asset_or_skip(VIDEO)
    model = asset_or_skip("models/yolox_nano.onnx")
    for name in ("two-speakers.wav", "198-209-0000.hq.ogg", "3436-172162-0000.hq.ogg", "5703-47212-0000.hq.ogg"):
        asset_or_skip(f"audio/{name}")
    pytest.importorskip("silero_vad", reason="pip install --no-deps silero-vad (scripts/install.sh)")
    quarrel = {"kind": "quarrel", "mic": "mic1", "start": 26.0, "end": 36.0}  # someone is at the counter
    hall = build_hall_set(tmp_path / "hall", plan=[quarrel], duration_s=40.0)
    config = Path(__file__).resolve().parent / "golden" / "dispute" / "hall.yaml"
    cfg = apply_overrides(load_config(config), {"cam1": str(video)} | {m: str(p) for m, p in hall.mics.items()})
    cfg.model.path = str(model)
    cfg.runtime.detector_workers = 1
    cfg.clips = ClipsConfig(dir=str(tmp_path / "clips"), pre_s=4.0, post_s=2.0)  # mic1 goes into cam1's clips
    events: list[Event] = []
    got = threading.Event()

    def sink(ev: Event) -> None:
        events.append(ev)
        if ev.type == "dispute" and ev.state == "start":
            got.set()

    node = Node(cfg, event_sinks=[sink], file_speed=SPEED)
    stats = _run_until(node, got)

    disputes = [e for e in events if e.type == "dispute" and e.state == "start"]
    assert [e.window for e in disputes] == ["W1"], disputes
    d = disputes[0]
    assert 0 <= d.t - quarrel["start"] <= cfg.rules.dispute.after_s + 2.0, d
    assert d.camera == "cam1" and d.people >= 1 and d.details["db_over_baseline"] >= 12.0
    clip = next(e.clip for e in events if e.state == "update" and e.event_id == d.event_id and e.clip)
    with av.open(str(Path(cfg.clips.dir) / clip)) as c:  # closed at stop: the microphone is in it as AAC
        assert c.streams.video[0].codec_context.name == "h264" and c.streams.audio[0].codec_context.name == "aac"
        assert sum(f.samples for f in c.decode(audio=0)) > 0
    levels = stats["audio"]
    assert set(levels) == {"mic1", "mic2", "mic3"}
    assert all(v["audio_s"] > 20.0 and v["dropped"] == 0 and v["errors"] == 0 for v in levels.values()), levels
