"""`hallwatch preview`: the rendered MP4 is real H.264 that decodes, shows the overlay, and the pipeline
behind it gives exactly the events a replay gives."""

from __future__ import annotations

import json

import av
import pytest

from calibration.overlay import PreviewOverlay
from calibration.preview import render_preview
from edge.cli import main as hallwatch
from edge.config import load_config
from edge.replay import Replay
from tests.assets import asset_or_skip
from tests.calib_fixtures import make_config, real_speech, red_blob_detector

# The synthetic clip (tests/calib_fixtures.write_video): a red square walks right at 5 px per frame
# (10 fps, 3 s) across a 320x180 frame. W1's post covers x 0.1..0.3 (px 32..96): the square's feet are in
# it from 0.2 s to 1.4 s, so with after_s 0.4 the post is staffed, then empty long enough for an alert.
SYNTH = """\
site: s
node: n
cameras:
  - id: cam1
    source: cam1.mp4
    detect_fps: 10
windows:
  - id: W1
    camera: cam1
    post: [[0.1, 0.5], [0.3, 0.5], [0.3, 0.9], [0.1, 0.9]]
staff_areas:
  - id: office
    camera: cam1
    zone: [[0.6, 0.1], [0.95, 0.1], [0.95, 0.4], [0.6, 0.4]]
rules:
  empty_post: {after_s: 0.4, clear_after_s: 0.2, gap_tolerance_s: 0.1}
tracker: {min_consecutive: 1, activation_threshold: 0.3, high_confidence: 0.3}
"""


def _decode(path):
    with av.open(str(path)) as c:
        s = c.streams.video[0]
        frames = [f.to_ndarray(format="bgr24") for f in c.decode(s)]
        return s.codec_context.name, frames


def test_preview_matches_replay_and_writes_h264(tmp_path):
    cfg_path = make_config(tmp_path, SYNTH)
    out = tmp_path / "preview.mp4"
    stats = render_preview(cfg_path, out=out, detector=red_blob_detector)
    replay = Replay(load_config(cfg_path), detector=red_blob_detector).run()
    started = [e for e in replay.events if e.state == "start"]
    assert started, "the synthetic clip should raise an empty-post alert"
    # the preview counts the events of the frames it drew; the replay also has the closing events
    assert stats.events == len([e for e in replay.events if e.details.get("reason") != "source_ended"])
    codec, frames = _decode(out)
    assert codec == "h264" and len(frames) == stats.frames == replay.frames
    assert frames[0].shape == (180, 320, 3)
    # the header box is drawn (dark) where the clip is light grey
    assert frames[0][8:14, 12:60].mean() < 80


def test_preview_window_and_cli_errors(tmp_path, capsys):
    cfg_path = make_config(tmp_path, SYNTH)
    out = tmp_path / "part.mp4"
    stats = render_preview(cfg_path, out=out, detector=red_blob_detector, start_s=0.5, duration_s=0.5)
    assert 5 <= stats.frames <= 6
    assert hallwatch(["preview", str(cfg_path), "--source", "cam9=x.mp4", "--out", str(out)]) == 2
    assert "'cam9' is not a camera" in capsys.readouterr().err
    with pytest.raises(SystemExit, match="expects ID=PATH"):  # the same check as hallwatch replay
        hallwatch(["preview", str(cfg_path), "--source", "cam1", "--out", str(out)])
    assert hallwatch(["preview", str(cfg_path), "--camera", "cam5", "--out", str(out)]) == 2
    assert "no camera 'cam5'" in capsys.readouterr().err


@pytest.mark.slow
@pytest.mark.assets
def test_preview_real_footage(tmp_path):
    footage = asset_or_skip("footage/one-by-one-person-detection.mp4")
    asset_or_skip("models/yolox_nano.onnx")
    cfg = tmp_path / "node.yaml"
    cfg.write_text(REAL.replace("MODEL", json.dumps(str(footage.parent.parent / "models" / "yolox_nano.onnx"))))
    out = tmp_path / "preview.mp4"
    rc = hallwatch(["preview", str(cfg), "--source", f"cam1={footage}", "--out", str(out), "--duration", "12"])
    assert rc == 0
    codec, frames = _decode(out)
    assert codec == "h264" and 55 <= len(frames) <= 62 and frames[0].shape == (432, 768, 3)


# The demo's window on the one-by-one footage, plus a counter zone, a staff area and a rough floor
# calibration (the wall's skirting board and the bottom edge; the metre values are estimates).
REAL = """\
site: demo-hall
node: edge-01
model: {path: MODEL}
cameras:
  - id: cam1
    source: footage.mp4
    detect_fps: 5
    floor:
      image: [[0.0, 0.585], [1.0, 0.56], [1.0, 1.0], [0.0, 1.0]]
      metres: [[0, 5], [6, 5], [4.5, 0], [1.5, 0]]
windows:
  - id: W1
    camera: cam1
    post: [[0.42, 0.60], [0.80, 0.60], [0.80, 1.0], [0.42, 1.0]]
    counter: [[0.12, 0.62], [0.42, 0.62], [0.42, 1.0], [0.12, 1.0]]
staff_areas:
  - id: back
    camera: cam1
    zone: [[0.80, 0.58], [1.0, 0.58], [1.0, 0.9], [0.80, 0.9]]
rules:
  empty_post: {after_s: 3, clear_after_s: 1, gap_tolerance_s: 1}
"""


@pytest.mark.assets
def test_overlay_shows_voice_and_dispute_timer_with_audio(tmp_path):
    speech = real_speech(3.0, level_db=-20)
    text = SYNTH.replace("    post: [[0.1, 0.5]", "    microphone: mic1\n    counter: [[0, 0], [1, 0], [1, 1], [0, 1]]\n"
                         "    post: [[0.1, 0.5]")
    text = text.replace("rules:\n", "rules:\n  dispute: {min_people: 1}\n")  # the one walker crowds the counter
    text += "microphones:\n  - {id: mic1, source: mic1.wav, baseline: {speech_db: -45}}\n"
    cfg_path = make_config(tmp_path, text, speech=speech, speech_at_s=0.3)
    cfg = load_config(cfg_path)
    replay = Replay(cfg, detector=red_blob_detector)
    overlay = PreviewOverlay(cfg, "cam1", replay.pipelines["cam1"], replay.audio)
    labels: list[str] = []
    replay.frame_hooks.append(lambda _c, frame, _e: labels.extend(r[2] for r in overlay.timer_rows(frame.ts)))
    replay.run()
    voice = [lb for lb in labels if lb.startswith("W1 voice")]
    assert voice and any("dB" in lb for lb in voice)
    # the speech at -20 dBFS is far over the seeded -45 dB baseline: the dispute timer runs
    assert any("hot" in lb for lb in voice)
