"""The capture-process side of the live node's evidence clips (see edge/node_clips.py for the design):
the camera's `ClipRecorder` on a clip thread, fed packets by the decode loop through a bounded queue
(full: the new packet is dropped, counted in `packets_dropped`) and events / microphone chunks by the
node's main process over pyzmq; finished clips and clip stats go back through `messages()`.
"""

from __future__ import annotations

import logging
import pickle
import queue
import threading
import time
from typing import Any

from storage.config import ClipsConfig
from storage.index import ClipIndex
from storage.recorder import ClipRecorder

log = logging.getLogger(__name__)
STATS_EVERY_S = 2.0


class _Deferred:
    """An input container whose `close()` waits until the clip recorder using its stream is closed."""

    def __init__(self, container: Any, owner: CaptureClips) -> None:  # noqa: ANN401 - av container
        self._c, self._owner = container, owner

    def __getattr__(self, name: str) -> Any:  # noqa: ANN401
        return getattr(self._c, name)

    def close(self) -> None:
        self._owner.defer_close(self._c)


class CaptureClips:
    """Capture-process side: the camera's `ClipRecorder` on a clip thread.

        clips = CaptureClips(spec); clips.start()
        source.on_packet = clips.on_packet              # decode loop: never blocks
        for m in clips.messages(): sock.send(...)       # ("clip", ...), ("clipstats", ...) for the node
        clips.finish()                                   # after the last frame: close clips, then eof
    """

    def __init__(self, camera: str, index: int, cfg: dict, command_address: str, *, mic_rate: int | None,
                 queue_size: int = 512) -> None:
        self.camera, self.index = camera, index
        self.cfg = ClipsConfig(**cfg)
        self.address = command_address
        self.mic_rate = mic_rate
        self._packets: queue.Queue[tuple] = queue.Queue(maxsize=queue_size)
        self.outbox: queue.Queue[tuple] = queue.Queue()
        self.packets_dropped = 0
        self.commands = 0
        self.ts_offset = 0.0  # files: media seconds added to each packet (PacedFile's loop offset)
        self.live = False
        self._anchor: float | None = None
        self._last_s: float | None = None
        self._closing: list[Any] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._rec: ClipRecorder | None = None
        self._thread = threading.Thread(target=self._run, name=f"clips-{camera}", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def wrap(self, container: Any) -> _Deferred:  # noqa: ANN401
        return _Deferred(container, self)

    def defer_close(self, container: Any) -> None:  # noqa: ANN401
        with self._lock:
            self._closing.append(container)

    # ---- decode loop -----------------------------------------------------------------------------------
    def on_packet(self, packet: Any, stream: Any) -> None:  # noqa: ANN401
        t = packet.pts if packet.pts is not None else packet.dts
        if t is None or packet.size == 0:
            return
        stream_s = float(t * packet.time_base)
        if self.live:  # epoch seconds, like the live frames: an offset fixed at the first packet / a jump
            if self._anchor is None or (self._last_s is not None and abs(stream_s - self._last_s) > 10.0):
                self._anchor = time.time() - stream_s
            self._last_s = stream_s
            ts = stream_s + self._anchor
        else:  # media seconds from the stream's start, like PacedFile's frames
            start = float(stream.start_time * stream.time_base) if stream.start_time is not None else 0.0
            ts = self.ts_offset + stream_s - start
        try:
            self._packets.put_nowait((packet, stream, ts))
        except queue.Full:
            self.packets_dropped += 1
            if self.packets_dropped in (1, 10) or self.packets_dropped % 1000 == 0:
                log.warning("camera %s: clip thread behind, %d packets dropped", self.camera, self.packets_dropped)

    def messages(self) -> list[tuple]:
        out = []
        while True:
            try:
                out.append(self.outbox.get_nowait())
            except queue.Empty:
                return out

    def finish(self, timeout_s: float = 60.0) -> None:
        """Write what is queued, close every clip (finishing it), close the deferred containers."""
        self._stop.set()
        self._thread.join(timeout_s)
        if self._thread.is_alive():
            log.error("camera %s: clip thread still busy after %.0f s", self.camera, timeout_s)

    # ---- clip thread -----------------------------------------------------------------------------------
    def _run(self) -> None:
        import zmq

        sock = zmq.Context.instance().socket(zmq.PULL)
        sock.setsockopt(zmq.LINGER, 0)
        sock.connect(self.address)
        index = ClipIndex(self.cfg.dir)  # the node's main process recovered it before captures started
        next_stats = time.monotonic() + STATS_EVERY_S
        quiet_since: float | None = None
        try:
            while True:
                try:
                    item = self._packets.get(timeout=0.05)
                    self._packet(index, *item)
                except queue.Empty:
                    item = None
                got = self._commands(sock)
                if self._rec is not None:
                    self._done(self._rec.poll())
                if time.monotonic() >= next_stats:
                    next_stats = time.monotonic() + STATS_EVERY_S
                    self.outbox.put(("clipstats", self._stats()))
                if self._stop.is_set() and item is None:  # after the last frame: wait for late events
                    if got or quiet_since is None:
                        quiet_since = time.monotonic()
                    elif time.monotonic() - quiet_since > 0.5:
                        break
        except Exception:  # noqa: BLE001 - a bug here must not take the capture (and detection) down
            log.exception("camera %s: clip thread failed", self.camera)
        finally:
            if self._rec is not None:
                self._done(self._rec.close())
            self._close_containers(keep=None)
            self.outbox.put(("clipstats", self._stats()))
            sock.close()
            index.close()

    def _packet(self, index: ClipIndex, packet: Any, stream: Any, ts: float) -> None:  # noqa: ANN401
        if self._rec is not None and self._rec.stream is not stream:  # reconnected / looped: a new stream
            self._done(self._rec.close())
            self._rec = None
            self._close_containers(keep=stream)
        if self._rec is None:
            self._rec = ClipRecorder(self.camera, self.cfg, index, stream, background=True, live=True,
                                     mic_rate=self.mic_rate)
        self._done(self._rec.push_packet(packet, ts))

    def _commands(self, sock: Any) -> int:  # noqa: ANN401 - a zmq socket
        import zmq

        n = 0
        while True:
            try:
                msg = pickle.loads(sock.recv(zmq.NOBLOCK))
            except zmq.Again:
                return n
            n += 1
            self.commands += 1
            if self._rec is None:
                continue  # no packet yet: nothing to record from
            if msg[0] == "event":
                self._done(self._rec.on_event(msg[1], snapshot_jpeg=msg[2]))
            elif msg[0] == "audio":
                self._rec.push_audio(msg[1])

    def _done(self, done: list) -> None:
        for d in done:
            self.outbox.put(("clip", d))

    def _close_containers(self, keep: Any) -> None:  # noqa: ANN401
        with self._lock:
            closing = [c for c in self._closing if keep is None or all(s is not keep for s in c.streams.video)]
            self._closing = [c for c in self._closing if c not in closing]  # still demuxing the current stream
        for c in closing:
            try:
                c.close()
            except Exception as e:  # noqa: BLE001 - closing a finished input must not stop the clips
                log.debug("camera %s: closing an input failed: %s", self.camera, e)

    def _stats(self) -> dict[str, Any]:
        s: dict[str, Any] = dict(self._rec.stats) if self._rec is not None else {}
        s["packets_dropped"] = self.packets_dropped
        s["open"] = sorted(self._rec.open_event_ids) if self._rec is not None else []
        return s
