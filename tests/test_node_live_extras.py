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

pytestmark = pytest.mark.assets
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


@pytest.mark.slow
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


@pytest.mark.slow
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


def _event(state: str, t: float) -> Event:
    return Event("e1", "empty_post", state, "s", "n", "cam1", "W1", t, 6.0)


@pytest.mark.parametrize("close_early", [False, True])
def test_capture_clips_record_from_commands_even_after_the_input_closed(tmp_path: Path, close_early: bool) -> None:
    """The capture-side recorder alone (no node): packets from a demuxer, events over pyzmq. With
    `close_early` the input is closed (deferred) before the events arrive, as when a file ends while
    its last frames' events are still on their way; the clip must still open from the stream."""
    import pickle

    import zmq

    from edge.capture_clips import CaptureClips

    video = asset_or_skip(VIDEO)
    addr = f"ipc://{tmp_path}/cmd"
    push = zmq.Context.instance().socket(zmq.PUSH)
    push.setsockopt(zmq.LINGER, 0)
    push.bind(addr)
    clips = CaptureClips("cam1", 0, ClipsConfig(dir=str(tmp_path / "clips"), pre_s=3, post_s=2).model_dump(),
                         addr, mic_rate=None)
    clips.start()
    container = clips.wrap(av.open(str(video)))
    stream = container.streams.video[0]
    sent, last = False, 0.0
    for p in container.demux(stream):
        if not p.size:
            continue
        clips.on_packet(p, stream)
        last = float(p.pts * p.time_base)
        if last > 8.5 and not sent:  # the frame loop raises events just after their packets
            if close_early:
                container.close()
                break
            push.send(pickle.dumps(("event", _event("start", 6.0), b"\xff\xd8\xff")))
            push.send(pickle.dumps(("event", _event("end", 8.0), None)))
            sent = True
        if last > 20.0:
            break
    if close_early:
        push.send(pickle.dumps(("event", _event("start", 6.0), b"\xff\xd8\xff")))
        push.send(pickle.dumps(("event", _event("end", 8.0), None)))
    else:
        container.close()
    clips.finish()
    push.close()
    msgs = clips.messages()
    done = [m[1] for m in msgs if m[0] == "clip"]
    assert len(done) == 1 and done[0].record.status == "complete", msgs
    rec = done[0].record
    orig = _original(video)
    frame_s, reorder_s = 0.1, max(o[1] - o[2] for o in orig)  # 10 fps; B-frames show after decode time
    want = min(last, 10.0)  # end + post_s, or the last packet there was
    assert rec.start_s <= 3.0 and want - frame_s - 1e-6 <= rec.end_s <= want + reorder_s + frame_s
    assert ClipIndex(tmp_path / "clips").abspath(rec.snapshot).read_bytes()[:3] == b"\xff\xd8\xff"
    data = _video_packets(ClipIndex(tmp_path / "clips").abspath(rec.path))
    first = _run_start(orig, data)
    assert [o[0] for o in orig[first:first + len(data)]] == data
    assert msgs[-1][0] == "clipstats" and msgs[-1][1]["clips_complete"] == 1 and msgs[-1][1]["open"] == []


def test_capture_clips_drop_newest_packet_when_the_clip_thread_is_behind(tmp_path: Path) -> None:
    from edge.capture_clips import CaptureClips

    video = asset_or_skip(VIDEO)
    clips = CaptureClips("cam1", 0, ClipsConfig(dir=str(tmp_path)).model_dump(), "ipc://unused", mic_rate=None,
                         queue_size=2)  # not started: nothing takes packets off the queue
    with av.open(str(video)) as c:
        s = c.streams.video[0]
        for _, p in zip(range(5), c.demux(s), strict=False):
            clips.on_packet(p, s)
    assert clips.packets_dropped == 3
