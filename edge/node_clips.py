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
(opening a clip from a closed container's stream crashes FFmpeg). The capture side is
edge/capture_clips.py.
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

if TYPE_CHECKING:
    from edge.config import NodeConfig

log = logging.getLogger(__name__)
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
