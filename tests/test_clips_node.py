"""NodeClips as the live node uses it: background finishing, `poll()` for clip update events,
retention that spares open incidents, recovery at start-up."""

from __future__ import annotations

import time
from pathlib import Path

import av
import numpy as np
import pytest

from detectors.types import Detections, Event, Frame
from edge.clip_recorder import NodeClips
from edge.config import parse_config
from storage.clip_writer import part_path
from tests.assets import asset_or_skip
from tests.packets import timed_packets

pytestmark = pytest.mark.assets


def _cfg(clip_dir: Path):
    return parse_config({
        "site": "s", "node": "n", "cameras": [{"id": "cam1", "source": "x.mp4"}],
        "windows": [{"id": "W1", "camera": "cam1", "post": [[0.4, 0.6], [0.8, 0.6], [0.8, 1], [0.4, 1]]}],
        "clips": {"dir": str(clip_dir), "pre_s": 5, "post_s": 5, "keep_days": 30, "max_gb": 50},
    }, "<test>")


def test_live_node_clips(tmp_path: Path) -> None:
    video = asset_or_skip("footage/one-by-one-person-detection.mp4")
    cfg = _cfg(tmp_path / "clips")
    # a crash of an earlier run left a clip "recording" with nothing on disk: recovered at start-up
    from storage.index import ClipIndex

    old = ClipIndex(cfg.clips.dir)
    crashed = old.begin(event_id="old", part=0, camera="cam1", window="W1", type="empty_post",
                        path="cam1/d/old-0.mp4", start_s=0.0)
    old.close()
    clips = NodeClips(cfg, live=True)
    assert clips.index.get(crashed).status == "failed"
    assert not part_path(clips.index.abspath("cam1/d/old-0.mp4")).exists()

    frame_img = np.zeros((432, 768, 3), np.uint8)
    people = Detections([[300, 200, 400, 430]], [0.9], [0], [3])
    updates = []
    with av.open(str(video)) as c:
        vs = c.streams.video[0]
        for pkt, t in timed_packets(c, vs):
            clips.on_packet("cam1", pkt, vs)
            off = clips.clock_offset("cam1")  # live events carry epoch time, as the packets now do
            for start, end in ((12.0, 20.0), (40.0, None)):
                if abs(t - start) < 1e-6 or (end is not None and abs(t - end) < 1e-6):
                    ev = Event(f"e{start:g}", "empty_post", "start" if abs(t - start) < 1e-6 else "end",
                               "s", "n", "cam1", "W1", t + off, start + off)
                    clips.on_event(ev)
                    clips.on_frame("cam1", Frame(t + off, frame_img), people)
            updates += clips.poll()
            if t >= 50.0:
                break  # e40 stays open: the node is still running
    deadline = time.monotonic() + 30
    while not updates and time.monotonic() < deadline:  # finished on the background thread
        time.sleep(0.05)
        updates += clips.poll()
    assert [(u.event_id, u.state) for u in updates] == [("e12", "update")]
    rec = clips.index.by_event("e12")[0]
    assert updates[0].clip == rec.path and rec.status == "complete" and rec.snapshot
    off = clips.clock_offset("cam1")
    assert 6.0 - 1e-3 <= rec.start_s - off <= 7.0 + 1e-3  # within one GOP (1 s) before 12 - pre_s
    assert rec.end_s - off == pytest.approx(25.0, abs=0.5)
    assert clips.protected_event_ids() == {"e40"}
    # everything is "too old" for retention now, but the open incident's clip is spared
    deleted = clips.maintain(time.time() + 40 * 86400)
    assert [r.event_id for r in deleted] == ["e12"]
    rest = clips.finish()
    assert [(u.event_id, u.state) for u in rest] == [("e40", "update")]
    assert clips.stats()["clips_complete"] == 2 and clips.stats()["clips_failed"] == 0


@pytest.mark.parametrize("windows,want", [
    ([("W1", "cam1", "mic1"), ("W2", "cam1", "mic2")], {"mic1": ["cam1"], "mic2": []}),  # first window's
    ([("W1", "cam1", "mic1"), ("W2", "cam2", "mic1")], {"mic1": ["cam1", "cam2"]}),     # shared mic
    ([("W1", "cam2", "camera"), ("W2", "cam1", None)], {"camera:cam2": ["cam2"]}),     # camera's own
])
def test_mic_inputs_map_audio_to_the_window_cameras(windows: list, want: dict) -> None:
    from edge.clip_recorder import mic_inputs

    post = [[0.4, 0.6], [0.8, 0.6], [0.8, 1], [0.4, 1]]
    cfg = parse_config({
        "site": "s", "node": "n", "cameras": [{"id": "cam1", "source": "a.mp4"}, {"id": "cam2", "source": "b.mp4"}],
        "microphones": [{"id": "mic1", "source": "a.wav"}, {"id": "mic2", "source": "b.wav"}],
        "windows": [{"id": w, "camera": c, "post": post, **({"microphone": m} if m else {})} for w, c, m in windows],
    }, "<test>")
    assert mic_inputs(cfg) == want
