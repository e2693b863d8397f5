"""`hallwatch preview`: run one camera through the node's pipeline and show what it sees.

The MP4 preview draws each analysed frame of `edge.replay.Replay.run()` through a frame hook, so it shows
exactly what a replay decides. The editor's live view (MJPEG) cannot use the replay loop (replay reads
files only, as fast as it can); it feeds the same pipeline, built by Replay, from a live-capable
`edge.sources.VideoSource` at real-time pace (video rules only). Drawing: `PreviewOverlay`. Output: H.264
MP4 at the camera's `detect_fps` (PyAV's libx264: OpenCV cannot write H.264), or JPEG parts.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from calibration.overlay import PreviewOverlay
from calibration.snapshot import encode_jpeg
from detectors.types import Event, Frame
from edge.config import NodeConfig, load_config
from edge.pipeline import CameraPipeline, Detector
from edge.replay import Replay, apply_overrides
from edge.sources import SourceError, VideoSource

log = logging.getLogger(__name__)


class PreviewError(RuntimeError):
    """The preview cannot run: unknown camera, unreadable source, unwritable output."""


@dataclass
class PreviewStats:
    frames: int = 0
    events: int = 0
    wall_s: float = 0.0


def one_camera(cfg: NodeConfig, camera_id: str) -> NodeConfig:
    """`cfg` reduced to one camera and its windows and staff areas (the other cameras are not decoded)."""
    cam = cfg.camera(camera_id)
    return cfg.model_copy(update={
        "cameras": [cam], "windows": cfg.windows_of(camera_id), "staff_areas": cfg.staff_areas_of(camera_id)})


def live_frames(cfg: NodeConfig, camera_id: str, *, detector: Detector | None = None, start_s: float = 0.0,
                ) -> Iterator[np.ndarray]:
    """Annotated BGR images of one camera at real-time pace (a recorded file plays at its own speed).

    Frames before `start_s` still run through the pipeline (so timers are where a replay would have
    them) but are neither drawn nor waited for.
    """
    try:
        cfg = one_camera(cfg, camera_id)
    except KeyError:
        raise PreviewError(f"no camera {camera_id!r} in the config") from None
    pipe: CameraPipeline = Replay(cfg, detector=detector).pipelines[camera_id]
    overlay = PreviewOverlay(cfg, camera_id, pipe)
    cam = cfg.camera(camera_id)
    try:
        source = VideoSource(camera_id, cam.source, detect_fps=cam.detect_fps,
                             decoder_threads=cam.decoder_threads, reconnect_max_s=cam.reconnect_max_s)
        t_wall0 = time.monotonic()
        for frame in source:
            events = pipe.process(frame)
            if frame.ts + 1e-6 < start_s:
                overlay.note(events, frame.ts)
                continue
            if not source.live:
                time.sleep(max(0.0, (frame.ts - start_s) - (time.monotonic() - t_wall0)))
            yield overlay.draw(frame.image, frame.ts, events)
    except SourceError as exc:
        raise PreviewError(str(exc)) from None


class H264Writer:
    """Writes BGR frames into an MP4 with libx264 (yuv420p, so browsers and players open it)."""

    def __init__(self, path: Path, fps: float, wh: tuple[int, int], *, crf: int = 23) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._container = av.open(str(self.path), "w")
        rate = Fraction(fps).limit_denominator(1000)
        self._stream = self._container.add_stream("libx264", rate=rate)
        self._stream.width, self._stream.height = wh[0] // 2 * 2, wh[1] // 2 * 2  # yuv420p needs even sizes
        self._stream.pix_fmt = "yuv420p"
        self._stream.options = {"crf": str(crf), "preset": "veryfast", "movflags": "+faststart"}
        self.frames = 0

    def write(self, image: np.ndarray) -> None:
        img = image[: self._stream.height, : self._stream.width]
        frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(img), format="bgr24")
        frame.pts = self.frames
        for pkt in self._stream.encode(frame):
            self._container.mux(pkt)
        self.frames += 1

    def close(self) -> None:
        for pkt in self._stream.encode():
            self._container.mux(pkt)
        self._container.close()


class _Enough(Exception):
    """Raised from the frame hook to end a preview at --duration."""


def render_preview(config: str | Path, *, out: str | Path, sources: dict[str, str] | None = None,
                   camera: str | None = None, start_s: float = 0.0, duration_s: float | None = None,
                   detector: Detector | None = None) -> PreviewStats:
    """Render one camera of `config` (sources overridden by `sources`) into the MP4 `out`.

    The frames come from `Replay.run()` itself (a frame hook draws each analysed frame), so the preview
    shows exactly what `hallwatch replay` decides, audio included where the replay merges it.
    """
    cfg = load_config(config)
    try:
        cfg = apply_overrides(cfg, sources or {})
    except KeyError as exc:
        raise PreviewError(exc.args[0]) from None
    camera = camera or next(iter(sources or {}), None) or cfg.cameras[0].id
    try:
        cfg = one_camera(cfg, camera)
    except KeyError:
        raise PreviewError(f"no camera {camera!r} in {config}") from None
    replay = Replay(cfg, detector=detector)
    overlay = PreviewOverlay(cfg, camera, replay.pipelines[camera], replay.audio)
    stats, writer = PreviewStats(), None
    fps = cfg.camera(camera).detect_fps

    def draw(_cam: str, frame: Frame, events: list[Event]) -> None:
        nonlocal writer
        if duration_s is not None and frame.ts > start_s + duration_s:
            raise _Enough
        if frame.ts + 1e-6 < start_s:  # run, but do not draw, the part before --start
            overlay.note(events, frame.ts)
            return
        if writer is None:
            writer = H264Writer(Path(out), fps, frame.wh)
        writer.write(overlay.draw(frame.image, frame.ts, events))
        stats.frames += 1
        stats.events += len(events)

    replay.frame_hooks.append(draw)
    t0 = time.perf_counter()
    try:
        replay.run()
    except _Enough:
        pass
    except SourceError as exc:
        raise PreviewError(str(exc)) from None
    finally:
        if writer is not None:
            writer.close()
    if writer is None:
        raise PreviewError(f"camera {camera}: no frames between {start_s:g} s and the end")
    stats.wall_s = time.perf_counter() - t0
    return stats


def mjpeg_stream(cfg: NodeConfig, camera_id: str, *, start_s: float = 0.0,
                 detector: Detector | None = None) -> Iterator[bytes]:
    """multipart/x-mixed-replace parts of the annotated camera, at real-time pace (the editor's live view)."""
    try:
        for image in live_frames(cfg, camera_id, detector=detector, start_s=start_s):
            yield b"--frame\r\nContent-Type: image/jpeg\r\n\r\n" + encode_jpeg(image, 75) + b"\r\n"
    except PreviewError as exc:
        log.warning("live preview of %s stopped: %s", camera_id, exc)
