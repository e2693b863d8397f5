"""Shared helpers of the calibration tests: a node config with comments and unknown keys, a small real
H.264 file for the camera and a real WAV for the microphone (written with PyAV / soundfile)."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import soundfile

from detectors.types import Detections

CONFIG_TEXT = """\
# HallWatch node config for hall 3 (ground floor)
site: hall3   # the site id used in MQTT topics
node: edge-a
cameras:
  - id: cam1  # over windows 1-4
    source: cam1.mp4
    detect_fps: 5
windows:
  # window 1 is the one by the door
  - id: W1
    camera: cam1
    post: [[0.1, 0.5], [0.3, 0.5], [0.3, 0.9], [0.1, 0.9]]
    counter: [[0.3, 0.5], [0.5, 0.5], [0.5, 0.9], [0.3, 0.9]]
    microphone: mic1
staff_areas:
  - id: back_office
    camera: cam1
    zone: [[0.6, 0.1], [0.95, 0.1], [0.95, 0.4], [0.6, 0.4]]
microphones:
  - id: mic1
    source: mic1.wav
    gain_db: 0
rules:
  empty_post:
    after_s: 60   # one minute in this hall
schedule:
  timezone: "Europe/Berlin"
  open: ["08:00-12:30", "13:30-18:00"]
mqtt:
  url: mqtt://10.0.0.5:1883
  topic_prefix: 'hallwatch'
"""


def write_video(path: Path, *, seconds: float = 3.0, fps: int = 10, wh: tuple[int, int] = (320, 180)) -> Path:
    """A small H.264 MP4: a grey floor with a dark 'desk' and a moving square."""
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = wh[0], wh[1], "yuv420p"
        for i in range(int(seconds * fps)):
            img = np.full((wh[1], wh[0], 3), 150, np.uint8)
            img[wh[1] // 2:, :, :] = 110
            img[60:90, 40:140] = (40, 60, 90)
            x = 10 + 5 * i
            img[100:150, x:x + 30] = (20, 20, 200)
            for pkt in stream.encode(av.VideoFrame.from_ndarray(img, format="bgr24")):
                out.mux(pkt)
        for pkt in stream.encode():
            out.mux(pkt)
    return path


def real_speech(seconds: float = 3.0, level_db: float = -30.0) -> np.ndarray:
    """`seconds` of real read speech (LibriSpeech, shared assets) at about `level_db` RMS; skips without
    the assets."""
    from edge.audio_sources import read_audio
    from tests.assets import asset_or_skip

    y = read_audio(str(asset_or_skip("audio/198-209-0000.hq.ogg")))[: int(seconds * 16000)]
    return (y * 10 ** (level_db / 20) / np.sqrt(np.mean(y * y))).astype(np.float32)


def write_wav(path: Path, *, speech: np.ndarray | None = None, speech_at_s: float = 2.0, sr: int = 16000) -> Path:
    """`speech_at_s` of quiet room noise (about -60 dBFS), then `speech` (or 2 s of a 180 Hz buzz) over it."""
    rng = np.random.default_rng(0)
    t = np.arange(2 * sr) / sr
    tail = speech if speech is not None else 0.2 * np.sign(np.sin(2 * np.pi * 180 * t))
    y = np.concatenate([np.zeros(int(speech_at_s * sr)), tail])
    y = y + 0.001 * rng.standard_normal(len(y))
    soundfile.write(str(path), y.astype(np.float32), sr)
    return path


def make_config(folder: Path, text: str = CONFIG_TEXT, *, speech: np.ndarray | None = None,
                speech_at_s: float = 2.0) -> Path:
    """Writes the config with its camera file and microphone file (`write_wav`) beside it; returns the
    config path."""
    write_video(folder / "cam1.mp4")
    write_wav(folder / "mic1.wav", speech=speech, speech_at_s=speech_at_s)
    cfg = folder / "node.yaml"
    cfg.write_text(text, encoding="utf-8")
    return cfg


def red_blob_detector(image: np.ndarray) -> Detections:
    """A real, trivial detector for the synthetic clip: the box around strongly red pixels."""
    ys, xs = np.nonzero((image[:, :, 2] > 150) & (image[:, :, 0] < 80))
    if len(xs) == 0:
        return Detections.empty()
    return Detections(np.array([[xs.min(), ys.min(), xs.max() + 1, ys.max() + 1]]), np.array([0.9]),
                      np.array([0]))
