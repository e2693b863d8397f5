"""End to end in a real headless Chromium: a clip recorded from the real footage with a real speech
recording as the microphone (H.264 copied, AAC), uploaded with its snapshot by the edge's ClipUploader to a
real central service, played with video and sound in the alert detail page by a supervisor
(readyState >= 3), the snapshot shown, the clip marked "keep", and the view in the audit log."""

from __future__ import annotations

from pathlib import Path

import av
import pytest

from alerts.central.service import run_central_in_thread
from detectors.types import Detections, Event
from edge.clip_recorder import FileMic, clip_update, load_audio_file
from storage.config import ClipsConfig, ClipUploadConfig
from storage.index import ClipIndex
from storage.recorder import ClipRecorder
from storage.snapshot import render_snapshot
from storage.uploader import ClipUploader
from tests.alerts_helpers import central_config, wait_for
from tests.assets import asset_or_skip
from tests.browser import chromium, login
from tests.packets import timed_packets

pytestmark = [pytest.mark.browser, pytest.mark.assets, pytest.mark.slow]
START, END = 30.0, 34.0


@pytest.fixture
def browser():
    yield from chromium("--autoplay-policy=no-user-gesture-required", window="1280,1000")


def _frame_at(video: Path, t: float):
    """BGR image of the frame shown at `t` (the snapshot; clips themselves never decode)."""
    with av.open(str(video)) as c:
        return next(f for f in c.decode(video=0) if f.time >= t - 1e-6).to_ndarray(format="bgr24")


def _record_clip(tmp: Path, event: Event) -> tuple[ClipIndex, int]:
    """Run the recorder over the footage with the microphone; the start event gets a snapshot."""
    video, audio = asset_or_skip("footage/one-by-one-person-detection.mp4"), asset_or_skip("audio/two-speakers.wav")
    mic = FileMic(load_audio_file(audio), 16000)
    cfg = ClipsConfig(dir=str(tmp / "edge-clips"), pre_s=10, post_s=10)
    index = ClipIndex(cfg.dir)
    end = Event(**{**event.__dict__, "state": "end", "t": END})
    done = []
    with av.open(str(video)) as c:
        vs = c.streams.video[0]
        rec = ClipRecorder(event.camera, cfg, index, vs, mic_rate=16000, background=False)
        for pkt, t in timed_packets(c, vs):
            for chunk in mic.until(t + 0.2):
                rec.push_audio(chunk)
            done += rec.push_packet(pkt)
            if abs(t - START) < 1e-6:
                image = _frame_at(video, START)
                jpeg = render_snapshot(image, zones=[("W1", "post", [[0.42, 0.6], [0.8, 0.6], [0.8, 1], [0.42, 1]])],
                                       people=Detections.empty(), title="empty_post W1")
                done += rec.on_event(event, snapshot_jpeg=jpeg)
            if abs(t - END) < 1e-6:
                done += rec.on_event(end)
            if t > END + 12:
                break
        done += rec.close()
    assert len(done) == 1 and done[0].record.status == "complete"
    return index, done[0].record.id


def test_supervisor_plays_recorded_clip_with_sound_and_keeps_it(tmp_path: Path, browser) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait
    from sqlalchemy import select

    from alerts.central.store import Alarm, Clip, ClipAudit
    from tests.mosquitto import free_port

    handle = run_central_in_thread(central_config(tmp_path, f"mqtt://127.0.0.1:{free_port()}"))
    uploader = None
    try:
        central = handle.central
        event = Event("n1-empty_post-clipstest", "empty_post", "start", "hall1", "n1", "cam1", "W1", START,
                      START - 3.0, people=0)
        assert central.ingest.handle("hallwatch/hall1/n1/events", event.to_json().encode()) == "stored"
        index, clip_id = _record_clip(tmp_path, event)

        up_cfg = ClipUploadConfig(url=handle.url, token_file=str(tmp_path / "node1.token"), retry_max_s=2)
        uploader = ClipUploader(up_cfg, index, poll_s=0.1)
        uploader.start()
        uploader.enqueue(index.get(clip_id))
        wait_for(lambda: uploader.pending() == 0, 30, "the clip and snapshot uploads")
        urls = {d.kind: d.url for d in uploader.drain_done()}
        assert set(urls) == {"video", "snapshot"}
        update = clip_update(Event(**{**event.__dict__, "state": "end", "t": END}), urls["video"], t=END + 10)
        central.ingest.handle("hallwatch/hall1/n1/events", update.to_json().encode())

        login(browser, handle.url, "supervisor", "supervisor-pw")
        WebDriverWait(browser, 20).until(ec.presence_of_element_located((By.ID, "whoami")))
        with central.sessions() as s:
            alarm_id = s.scalars(select(Alarm.id).where(Alarm.event_id == event.event_id)).one()
        browser.get(f"{handle.url}/alarms/{alarm_id}")
        video = browser.find_element(By.TAG_NAME, "video")
        assert video.get_attribute("src").endswith(urls["video"])
        state = browser.execute_async_script("""
            const v = document.querySelector('video'); const done = arguments[arguments.length - 1];
            const fail = setTimeout(() => done({error: 'timeout', ready: v.readyState}), 30000);
            v.addEventListener('error', () => done({error: String(v.error && v.error.code)}));
            const played = () => setTimeout(() => { clearTimeout(fail); done({ready: v.readyState,
                duration: v.duration, w: v.videoWidth, t: v.currentTime,
                audio: v.webkitAudioDecodedByteCount, video: v.webkitVideoDecodedByteCount}); }, 1500);
            v.muted = true;  // decoding the sound does not need a speaker
            v.addEventListener('canplay', () => v.play().then(played), {once: true});
            if (v.readyState >= 3) v.play().then(played);
        """)
        assert "error" not in state, state
        assert state["ready"] >= 3 and state["w"] == 768 and state["t"] > 0
        assert state["audio"] > 0 and state["video"] > 0  # Chromium decoded both the AAC and the H.264
        assert 20 < state["duration"] < 30  # pre 10 + 4 s alert + post 10
        img = browser.find_element(By.CSS_SELECTOR, "img[alt=snapshot]")
        assert browser.execute_script("return arguments[0].naturalWidth", img) == 768

        browser.find_element(By.ID, "keep-toggle").click()
        WebDriverWait(browser, 10).until(ec.text_to_be_present_in_element((By.ID, "keep"), "yes"))
        with central.sessions() as s:
            views = {(a.username, a.action, a.clip_id) for a in s.scalars(select(ClipAudit))}
            video_clip = s.scalars(select(Clip).where(Clip.kind == "video")).one()
        assert ("supervisor", "view", video_clip.id) in views
        assert video_clip.sha256 == index.get(clip_id).sha256  # the very file the edge wrote
    finally:
        if uploader is not None:
            uploader.stop()
        handle.stop()
