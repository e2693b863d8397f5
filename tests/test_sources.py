"""Video sources on the real footage (MP4 and GIF), and their errors."""

import numpy as np
import pytest

from edge.sources import SourceError, VideoSource, probe_duration_s
from tests.assets import asset_or_skip as asset


@pytest.mark.parametrize(
    "name, size_wh, native_fps, duration_s",
    [
        ("footage/one-by-one-person-detection.mp4", (768, 432), 10.0, 139.4),
        ("footage/classroom.gif", (480, 270), 50 / 3, 2.99),
    ],
)
def test_frames_resampled_to_detect_fps(name, size_wh, native_fps, duration_s):
    path = asset(name)
    src = VideoSource("cam1", str(path), detect_fps=5)
    frames = list(src)
    ts = np.array([f.ts for f in frames])
    assert frames[0].ts == 0.0 and frames[0].wh == size_wh
    assert frames[0].image.dtype == np.uint8 and frames[0].image.shape == (size_wh[1], size_wh[0], 3)
    # one analysed frame per 0.2 s of media, give or take the native frame grid
    assert len(frames) == pytest.approx(duration_s * 5, abs=2)
    assert np.all(np.diff(ts) > 0) and np.all(np.diff(ts) <= 0.2 + 1.0 / native_fps + 1e-6)
    assert src.stats.decoded >= src.stats.yielded == len(frames)
    assert probe_duration_s(str(path)) == pytest.approx(duration_s, abs=0.2)


def test_packets_reach_the_callback_before_decoding():
    path = asset("footage/classroom.gif")
    seen = []
    src = VideoSource("cam1", str(path), detect_fps=5, on_packet=lambda pkt, stream: seen.append(pkt.size))
    n = sum(1 for _ in src)
    assert n > 0 and len(seen) >= src.stats.decoded > 0


def test_downscale_keeps_aspect():
    src = VideoSource("cam1", str(asset("footage/classroom.gif")), detect_fps=5, max_width=240)
    assert next(iter(src)).image.shape == (136, 240, 3)


def test_missing_file_is_a_clear_error(tmp_path):
    with pytest.raises(SourceError, match="camera cam1: file not found: .*nope.mp4"):
        VideoSource("cam1", str(tmp_path / "nope.mp4"), detect_fps=5)


def test_not_a_video_is_a_clear_error(tmp_path):
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"this is not a video" * 100)
    with pytest.raises(SourceError, match="camera cam1: cannot open .*bad.mp4"):
        list(VideoSource("cam1", str(bad), detect_fps=5))


def test_truncated_file_yields_what_it_can(tmp_path):
    data = asset("footage/one-by-one-person-detection.mp4").read_bytes()
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(data[: len(data) // 3])  # moov atom is at the start of this file: a cut tail
    try:
        frames = list(VideoSource("cam1", str(cut), detect_fps=5))
    except SourceError as exc:  # either a clean error naming the file...
        assert "cut.mp4" in str(exc)
    else:  # ...or the frames before the cut
        assert 0 < len(frames) < 697


def test_live_source_retries_then_gives_up():
    src = VideoSource("cam9", "rtsp://127.0.0.1:9/nothing", detect_fps=5, reconnect_max_s=0.01,
                      max_reconnects=2)
    with pytest.raises(SourceError, match="camera cam9: gave up after 2 reconnects"):
        list(src)
    assert src.stats.reconnects == 3 and "cannot open" in src.stats.last_error


def test_bad_fps():
    with pytest.raises(ValueError, match="detect_fps must be > 0"):
        VideoSource("cam1", "x.mp4", detect_fps=0)


def _grid(times, step):
    """The analysis grid applied to every frame's time: what a source decoding everything would keep."""
    kept, next_t = [], None
    for t in times:
        if next_t is not None and t < next_t - 1e-6:
            continue
        next_t = t + step if next_t is None else max(next_t + step, t + step * 0.5)
        kept.append(t)
    return kept


@pytest.mark.parametrize("detect_fps", [2.5, 5.0])
def test_decoding_is_lazy_but_keeps_the_same_frames(detect_fps):
    """Packets are demuxed as they come (the clip ring sees each at once) but decoded only when one reaches
    the next analysed slot; the frames kept and their timestamps are those of decoding everything."""
    import av

    path = str(asset("footage/one-by-one-person-detection.mp4"))
    with av.open(path) as c:
        times = [float(vf.time) for vf in c.decode(video=0)]
    expected = [t - times[0] for t in _grid(times, 1.0 / detect_fps)]
    arrivals = []  # (packet time, frames decoded when it arrived)
    src = VideoSource("cam1", path, detect_fps=detect_fps,
                      pace=lambda rel: arrivals.append((rel, src.stats.decoded)))
    got = [f.ts for f in src]
    assert got == pytest.approx(expected, abs=1e-6)
    # 10 fps footage: between two analysed frames 10 / detect_fps - 1 packets wait undecoded
    idle = sum(1 for (_, a), (_, b) in zip(arrivals, arrivals[1:], strict=False) if a == b)
    assert idle >= 0.9 * len(arrivals) * (1 - detect_fps / 10)
    assert src.stats.decoded == len(times) and len(arrivals) >= len(times)


def test_live_source_stamps_frames_with_their_packets_arrival():
    """A live source (here a file sent at its own pace) decodes lazily too: analysed frames are stamped
    with the wall time their packet arrived and fall on the detect_fps grid; every frame is decoded."""
    import time

    path = str(asset("footage/classroom.gif"))  # 45 frames, 3 s
    t0 = time.time()

    def pace(rel):
        time.sleep(max(0.0, t0 + rel - time.time()))

    src = VideoSource("cam1", path, detect_fps=5, live=True, pace=pace, max_reconnects=0)
    frames = []
    with pytest.raises(SourceError, match="gave up after 0 reconnects"):
        for f in src:
            frames.append(f)
            assert f.ts <= time.time()  # stamped on arrival, never later than now
    ts = np.array([f.ts for f in frames]) - t0
    assert 13 <= len(frames) <= 17 and ts[-1] == pytest.approx(2.9, abs=0.3)
    assert np.all(np.diff(ts) > 0.15) and np.all(np.diff(ts) < 0.3)
    assert src.stats.decoded == 45
