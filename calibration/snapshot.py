"""Grab one frame from a camera source (file, rtsp/http stream, device) for the editor's background.

PyAV does the decoding, as in the node. For recorded files a time can be chosen; live sources give the
first decodable frame after connecting.
"""

from __future__ import annotations

import logging

import av
import cv2
import numpy as np

from edge.sources import _open_args

log = logging.getLogger(__name__)


class SnapshotError(RuntimeError):
    """A camera source that gave no frame; the message names the source and the reason."""


def _open(source: str, timeout_s: float) -> av.container.InputContainer:
    url, kw = _open_args(source)  # the node's own way of opening devices and rtsp streams
    try:
        return av.open(url, mode="r", timeout=timeout_s, **kw)
    except (av.error.FFmpegError, OSError) as exc:
        raise SnapshotError(f"camera source {source!r}: cannot open ({exc})") from None


def grab_frame(source: str, *, at_s: float = 0.0, timeout_s: float = 10.0) -> np.ndarray:
    """One frame as a BGR uint8 array (H, W, 3), the first at or after `at_s` seconds (files only)."""
    with _open(source, timeout_s) as container:
        if not container.streams.video:
            raise SnapshotError(f"camera source {source!r}: no video stream")
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        if at_s > 0 and stream.time_base is not None:
            try:  # land on the keyframe before at_s, then decode forward
                container.seek(int(at_s / stream.time_base), stream=stream, backward=True)
            except av.error.FFmpegError as exc:
                log.warning("cannot seek %s to %.1f s (%s); using the first frame", source, at_s, exc)
        last = None
        try:
            for frame in container.decode(stream):
                last = frame
                if frame.time is None or frame.time + 1e-6 >= at_s:
                    break
        except av.error.FFmpegError as exc:
            if last is None:
                raise SnapshotError(f"camera source {source!r}: cannot decode ({exc})") from None
        if last is None:
            raise SnapshotError(f"camera source {source!r}: no frame at {at_s:.1f} s")
        return last.to_ndarray(format="bgr24")


def encode_jpeg(image: np.ndarray, quality: int = 85) -> bytes:
    ok, buf = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise SnapshotError("cannot encode the snapshot as JPEG")
    return buf.tobytes()


def placeholder(message: str, wh: tuple[int, int] = (1280, 720)) -> np.ndarray:
    """A grey frame with `message` on it, so zones can still be edited while a camera is unreachable."""
    img = np.full((wh[1], wh[0], 3), 64, np.uint8)
    for i in range(0, len(message), 70):
        cv2.putText(img, message[i:i + 70], (20, 60 + 36 * (i // 70)), cv2.FONT_HERSHEY_SIMPLEX, 0.8,
                    (230, 230, 230), 2, cv2.LINE_AA)
    return img
