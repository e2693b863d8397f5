"""Shared-memory frame ring: frames cross process boundaries by reference (slot number + generation).

One ring per camera, one shared-memory block:
    header: written[S] int64, released[S] int64, ts[S] float64
    pixels: S slots of one frame each: (H, W, 3) uint8 BGR, or (H * 3 / 2, W) uint8 I420 (detectors.i420:
            the decoder's own format, half the bytes, converted only where a detector needs pixels)
Every cell has exactly one writing process, so no locks are needed:
  - the capture process (the ring's *writer*) bumps `written[s]` after filling slot s: that is the frame's
    generation, sent with the slot number in a small pyzmq message;
  - the node's main process (the *owner* of delivered frames) sets `released[s] = gen` when nobody needs
    the frame any more; inside the owner, `retain`/`release` count the holders (the pipeline, each detector
    job reading crops from the slot) and the slot goes back to the writer when the count reaches zero;
  - detector workers only read pixels; `view` checks the generation, so a bug that reused a slot while it
    was read shows as `StaleSlotError` instead of silent garbage.
A slot is free for the writer when written[s] == released[s]. When no slot is free the writer drops the
new frame (policy "drop_newest", counted in `dropped`): the frames already queued are older but already
promised to the consumer, and nothing it holds is ever overwritten.
"""

from __future__ import annotations

import contextlib
import logging
from dataclasses import dataclass
from multiprocessing import shared_memory
from typing import Literal

import numpy as np

from detectors import i420

log = logging.getLogger(__name__)

DropPolicy = Literal["drop_newest"]
DROP_POLICY: DropPolicy = "drop_newest"
PixelFormat = Literal["bgr24", "i420"]


class StaleSlotError(RuntimeError):
    """A slot was read with a generation it no longer holds (it was reused or never written)."""


@dataclass(frozen=True)
class RingSpec:
    """What another process needs to attach: the shared-memory name, slot count, a slot's array shape
    ((H, W, 3) for bgr24, (H * 3 / 2, W) for i420) and the pixel format."""

    name: str
    slots: int
    shape: tuple[int, ...]
    pixel_format: PixelFormat = "bgr24"

    @property
    def frame_hw(self) -> tuple[int, int]:
        """(height, width) of the picture."""
        return (self.shape[0], self.shape[1]) if self.pixel_format == "bgr24" else i420.picture_hw(self.shape)

    # ---- a slot's pixels in the form each reader needs (the one place that knows both formats) -------
    def grey(self, frame: np.ndarray) -> np.ndarray:
        """What the motion gate reads: the Y plane of an I420 frame (a view, no copy), or the BGR frame."""
        return i420.luma(frame) if self.pixel_format == "i420" else frame

    def bgr(self, frame: np.ndarray) -> np.ndarray:
        """The whole frame as BGR (converted from I420; a BGR frame as it is, not copied)."""
        return i420.to_bgr(frame) if self.pixel_format == "i420" else frame

    def crop_bgr(self, frame: np.ndarray, x1: int, y1: int, x2: int, y2: int) -> np.ndarray:
        """Pixels [y1:y2, x1:x2] as BGR, converting only that window of an I420 frame."""
        return i420.crop_bgr(frame, x1, y1, x2, y2) if self.pixel_format == "i420" else frame[y1:y2, x1:x2]

    @property
    def frame_bytes(self) -> int:
        return int(np.prod(self.shape))

    @property
    def header_bytes(self) -> int:
        return 3 * 8 * self.slots

    @property
    def total_bytes(self) -> int:
        return self.header_bytes + self.slots * self.frame_bytes


class FrameRing:
    """A ring of `slots` frame buffers in shared memory. Make it with `create` (writer) or `attach`."""

    def __init__(self, spec: RingSpec, shm: shared_memory.SharedMemory, *, owner: bool) -> None:
        self.spec = spec
        self._shm = shm
        self._owner = owner  # the creating process unlinks the block on close
        s = spec.slots
        buf = shm.buf
        self.written = np.ndarray((s,), np.int64, buf, 0)
        self.released = np.ndarray((s,), np.int64, buf, 8 * s)
        self.ts = np.ndarray((s,), np.float64, buf, 16 * s)
        self.frames = np.ndarray((s, *spec.shape), np.uint8, buf, spec.header_bytes)
        self._next = 0
        self.dropped = 0  # writer side: frames dropped because every slot was held
        self.stored = 0
        self._holds: dict[int, int] = {}  # owner side: slot -> number of holders

    @classmethod
    def create(cls, slots: int, shape: tuple[int, ...], name: str | None = None, *,
               pixel_format: PixelFormat = "bgr24") -> FrameRing:
        if slots < 2:
            raise ValueError(f"a frame ring needs at least 2 slots, got {slots}")
        if pixel_format not in ("bgr24", "i420"):
            raise ValueError(f"pixel format must be bgr24 or i420, got {pixel_format!r}")
        if pixel_format == "bgr24" and (len(shape) != 3 or shape[2] != 3 or min(shape) < 1):
            raise ValueError(f"bgr24 frame shape must be (H, W, 3), got {shape}")
        if pixel_format == "i420" and (len(shape) != 2 or shape[0] % 3 or min(shape) < 1
                                       or i420.i420_shape(*i420.picture_hw(shape)) != tuple(shape)):
            raise ValueError(f"i420 frame shape must be (H * 3 / 2, W) with H and W even, got {shape}")
        size = RingSpec("", slots, tuple(shape)).total_bytes
        shm = shared_memory.SharedMemory(name=name, create=True, size=size)
        spec = RingSpec(shm.name, slots, tuple(int(n) for n in shape), pixel_format)
        ring = cls(spec, shm, owner=True)
        ring.written[:] = 0
        ring.released[:] = 0
        return ring

    @classmethod
    def attach(cls, spec: RingSpec) -> FrameRing:
        try:
            shm = shared_memory.SharedMemory(name=spec.name, create=False)
        except FileNotFoundError:
            raise FileNotFoundError(f"frame ring {spec.name!r} does not exist (its camera process ended?)") from None
        # no resource-tracker juggling: node processes are multiprocessing children sharing one tracker,
        # which unlinks a block left over only after all of them have exited
        return cls(spec, shm, owner=False)

    # ---- writer (capture process) ---------------------------------------------------------------------
    def acquire(self) -> int | None:
        """A free slot for the next frame, or None when all are held (the caller drops the frame)."""
        s = self.spec.slots
        free = self.written == self.released
        if not free.any():
            self.dropped += 1
            return None
        order = (np.arange(s) + self._next) % s
        slot = int(order[np.argmax(free[order])])
        self._next = (slot + 1) % s
        return slot

    def write(self, slot: int, image: np.ndarray, ts: float) -> int:
        """Copy a frame into an acquired slot; returns its generation (send it with the slot number)."""
        if image.shape != self.spec.shape:
            raise ValueError(f"frame of shape {image.shape} for a ring of {self.spec.shape}")
        np.copyto(self.frames[slot], image)
        self.ts[slot] = ts
        gen = int(self.released[slot]) + 1
        self.written[slot] = gen  # published last: the slot is now busy until released
        self.stored += 1
        return gen

    def unwrite(self, slot: int, gen: int) -> None:
        """Give back a slot whose message could not be sent (the consumer never saw this generation)."""
        if int(self.written[slot]) == gen:
            self.written[slot] = gen - 1
            self.dropped += 1

    def put(self, image: np.ndarray, ts: float) -> tuple[int, int] | None:
        """acquire + write: (slot, gen), or None when the frame was dropped."""
        slot = self.acquire()
        return None if slot is None else (slot, self.write(slot, image, ts))

    # ---- readers --------------------------------------------------------------------------------------
    def view(self, slot: int, gen: int) -> np.ndarray:
        """The frame in `slot` (a view, no copy), checked to still be generation `gen`."""
        self.check(slot, gen)
        return self.frames[slot]

    def check(self, slot: int, gen: int) -> None:
        if int(self.written[slot]) != gen or int(self.released[slot]) >= gen:
            raise StaleSlotError(f"ring {self.spec.name} slot {slot}: expected generation {gen}, slot holds "
                                 f"{int(self.written[slot])} (released {int(self.released[slot])})")

    # ---- owner of delivered frames (main process) -----------------------------------------------------
    def retain(self, slot: int, gen: int) -> None:
        """One more holder of the delivered frame (slot, gen)."""
        self.check(slot, gen)
        self._holds[slot] = self._holds.get(slot, 0) + 1

    def release(self, slot: int, gen: int) -> None:
        """One holder fewer; the last one hands the slot back to the writer."""
        n = self._holds.get(slot, 0) - 1
        if n > 0:
            self._holds[slot] = n
            return
        self._holds.pop(slot, None)
        if int(self.written[slot]) != gen:
            raise StaleSlotError(f"ring {self.spec.name} slot {slot}: releasing generation {gen}, slot holds "
                                 f"{int(self.written[slot])}")
        self.released[slot] = gen

    def held(self) -> int:
        """Slots not yet handed back (writer's view: written but not released)."""
        return int((self.written != self.released).sum())

    def close(self) -> None:
        """Detach; the creator also removes the block."""
        for name in ("written", "released", "ts", "frames"):
            setattr(self, name, None)
        try:
            self._shm.close()
        except BufferError:  # a view is still alive somewhere in this process; the OS frees it at exit
            log.debug("ring %s: views still alive at close", self.spec.name)
        if self._owner:
            with contextlib.suppress(FileNotFoundError):
                self._shm.unlink()

