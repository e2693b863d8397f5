"""Evidence clips in the live node (`hallwatch edge`): one `ClipRecorder` per capture process.

Design: the encoded packets never leave the capture process that demuxed them. Each capture process runs
its camera's `ClipRecorder` on a clip thread of its own (`CaptureClips`); the main process sends it the
camera's events (with the snapshot JPEG of a start) and its microphone chunks, and gets back each finished
clip. Why not forward packets to the main process: a recorder needs the input av stream as the template
of every clip it opens (codec parameters, extradata), which cannot cross a process boundary; and disk writes
(mux, fsync, remux) in the main process would sit on the serial per-frame path of every camera.

    main process                                   capture process (one per camera)
    LiveClips.on_event / on_frame / on_input_audio     decode loop: on_packet -> bounded packet queue
      -> bounded command queue -> sender thread          clip thread: ClipRecorder (packets, commands)
      -> pyzmq PUSH ("event", ev, jpeg) / ("audio", c)     -> outbox -> the capture's frame socket:
    Node: ("clip", i, ClipDone), ("clipstats", i, {...})     ("clip", i, ClipDone), ("clipstats", i, {...})

Bounded, named, counted drops (they go into the node stats under `clips`):
- `packets_dropped` (capture): the clip thread's packet queue is full (disk stalled); policy drop_newest.
  The decode loop never waits for the disk, so detection never waits for clip writing.
- `commands_dropped` (main): the sender queue is full or the capture's command socket is at its
  high-water mark; policy drop_newest. Enqueueing never blocks the frame loop; snapshots (JPEG, optional
  face blur) are rendered on the sender thread.
The input container of a file/stream is closed only after the recorder that uses its stream closed
(opening a clip from a closed container's stream crashes FFmpeg), see `CaptureClips.defer_close`.
"""

from __future__ import annotations

import contextlib
import logging
import pickle
import queue
import threading
import time
from typing import TYPE_CHECKING, Any

from detectors.types import AudioChunk, Detections, Event, Frame
from edge.clip_recorder import AUDIO_RATE, NodeClips, mic_inputs, replay_uploader
from storage.config import ClipsConfig
from storage.index import ClipIndex
from storage.recorder import ClipRecorder

if TYPE_CHECKING:
    from edge.config import NodeConfig

log = logging.getLogger(__name__)
STATS_EVERY_S = 2.0
RECENT_START_S = 120.0  # a start sent this recently is protected from retention until the capture reports


class LiveClips(NodeClips):
    """Main-process side: clip `update` events, the uploader, retention, and the link to the captures."""

    def __init__(self, cfg: NodeConfig, *, queue_size: int = 512, maintain_every_s: float = 60.0) -> None:
        super().__init__(cfg, live=True, uploader=replay_uploader(cfg))  # recovers the index once
        self._inputs = mic_inputs(cfg)
        self.mic_cams = {cam for cams in self._inputs.values() for cam in cams}
        self._q: queue.Queue[tuple] = queue.Queue(maxsize=queue_size)
        self._addresses: dict[str, str] = {}
        self._capture: dict[str, dict] = {}  # camera -> its latest clip stats
        self._starts: dict[str, float] = {}  # event id -> monotonic time its start was sent
        self._protected: frozenset[str] = frozenset()
        self.commands_dropped = 0
        self.maintain_every_s = maintain_every_s
        self._thread: threading.Thread | None = None

    # ---- wiring ----------------------------------------------------------------------------------------
    def capture_kwargs(self, cam_id: str, tmp_dir: str) -> dict[str, Any]:
        """CaptureSpec fields for one camera's capture process."""
        addr = self._addresses[cam_id] = f"ipc://{tmp_dir}/clips-{len(self._addresses)}"
        return {"clips": self.clips_cfg.model_dump(), "clip_address": addr,
                "mic_rate": AUDIO_RATE if cam_id in self.mic_cams else None}

    def start(self) -> None:
        """Bind the command sockets and start the sender thread (call after `capture_kwargs`)."""
        ready = threading.Event()
        self._thread = threading.Thread(target=self._sender, args=(ready,), name="clip-sender", daemon=True)
        self._thread.start()
        ready.wait(5.0)

    # ---- inputs from the frame loop (main thread, never blocking) ------------------------------------
    def on_frame(self, cam_id: str, frame: Frame, people: Detections) -> None:  # type: ignore[override]
        """After a camera's analysed frame: its pending events go out; a start takes the frame along."""
        for ev in self._pending[cam_id]:
            img = frame.image.copy() if ev.state == "start" else None
            if ev.state == "start":
                self._starts[ev.event_id] = time.monotonic()
            self._enqueue(("event", cam_id, ev, img, people if img is not None else None, frame.ts))
        self._pending[cam_id].clear()

    def on_input_audio(self, key: str, chunk: AudioChunk) -> None:
        for cam in self._inputs.get(key, ()):
            self._enqueue(("audio", cam, chunk))

    def _enqueue(self, item: tuple) -> None:
        try:
            self._q.put_nowait(item)
        except queue.Full:
            self.commands_dropped += 1
            log.warning("clips: command queue full, dropped a %s for camera %s (%d dropped)", item[0], item[1],
                        self.commands_dropped)

    def on_capture(self, kind: str, cam_id: str, payload: Any) -> None:
        """A capture process's ("clip", ClipDone) or ("clipstats", dict) message."""
        if kind == "clip":
            self._take([payload])
        else:
            self._capture[cam_id] = payload
            now = time.monotonic()
            self._starts = {e: t for e, t in self._starts.items() if now - t < RECENT_START_S}
            self._protected = frozenset(self.protected_event_ids())

    # ---- state -----------------------------------------------------------------------------------------
    def protected_event_ids(self) -> set[str]:
        ids = {e for s in self._capture.values() for e in s.get("open", ())} | set(self._starts)
        return ids | (self.uploader.pending_event_ids() if self.uploader is not None else set())

    def stats(self) -> dict[str, int]:
        total: dict[str, int] = {"commands_dropped": self.commands_dropped}
        for s in self._capture.values():
            for k, v in s.items():
                if isinstance(v, int | float) and not isinstance(v, bool):
                    total[k] = total.get(k, 0) + int(v)
        if self.uploader is not None:
            total["uploads_pending"] = self.uploader.pending()
        return total

    def finish(self, upload_wait_s: float = 10.0) -> list[Event]:
        """Stop the sender, wait up to `upload_wait_s` for queued uploads, return the last updates."""
        if self._thread is not None:
            with contextlib.suppress(queue.Full):
                self._q.put(("stop", ""), timeout=5.0)
            self._thread.join(10.0)
            self._thread = None
        for pending in self._pending.values():
            pending.clear()  # the captures have closed their recorders
        if self.uploader is not None:
            end = time.monotonic() + upload_wait_s
            while self.uploader.pending() and time.monotonic() < end:
                time.sleep(0.1)
        out = self.poll()
        if self.uploader is not None:
            self.uploader.stop()
        return out

    # ---- sender thread ---------------------------------------------------------------------------------
    def _sender(self, ready: threading.Event) -> None:
        import zmq

        socks = {}
        for cam_id, addr in self._addresses.items():
            s = socks[cam_id] = zmq.Context.instance().socket(zmq.PUSH)
            s.setsockopt(zmq.SNDHWM, 1000)
            s.setsockopt(zmq.LINGER, 1000)
            s.bind(addr)
        ready.set()
        next_maintain = time.monotonic() + self.maintain_every_s
        try:
            while True:
                try:
                    item = self._q.get(timeout=1.0)
                except queue.Empty:
                    item = None
                if time.monotonic() >= next_maintain:
                    next_maintain = time.monotonic() + self.maintain_every_s
                    self._maintain()
                if item is None:
                    continue
                if item[0] == "stop":
                    return
                self._send(socks[item[1]], item)
        finally:
            for s in socks.values():
                s.close()

    def _send(self, sock: Any, item: tuple) -> None:  # noqa: ANN401 - a zmq socket
        import zmq

        if item[0] == "event":
            _, cam_id, ev, img, people, ts = item
            jpeg = self._snapshot(cam_id, Frame(ts, img), people, ev) if img is not None else None
            msg = ("event", ev, jpeg)
        else:
            msg = ("audio", item[2])
        try:
            sock.send(pickle.dumps(msg), zmq.NOBLOCK)
        except zmq.Again:
            self.commands_dropped += 1
            log.warning("clips: camera %s does not take commands (capture gone or stalled); dropped a %s",
                        item[1], msg[0])

    def _maintain(self) -> None:
        try:
            gone = self.maintain(time.time())
            if gone:
                log.info("clips: retention removed %d clips", len(gone))
        except (OSError, ValueError) as e:
            log.error("clips: retention failed: %s", e)

    def maintain(self, now: float) -> list:
        from storage.retention import apply_retention

        return apply_retention(self.index, self.clips_cfg, set(self._protected), now)


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
