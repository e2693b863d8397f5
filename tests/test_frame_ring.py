"""The shared-memory frame ring: bounded, drop-newest when full, no slot reused while it is held."""

from __future__ import annotations

import multiprocessing as mp

import numpy as np
import pytest

from edge.frame_ring import FrameRing, RingSpec, StaleSlotError

SHAPE = (36, 64, 3)


def frame(value: int) -> np.ndarray:
    return np.full(SHAPE, value % 256, np.uint8)


@pytest.fixture
def ring():
    r = FrameRing.create(3, SHAPE)
    yield r
    r.close()


def test_full_ring_drops_the_new_frame_and_never_overwrites_held_ones(ring: FrameRing) -> None:
    got = [ring.put(frame(i), float(i)) for i in range(3)]
    assert all(g is not None for g in got)
    assert ring.put(frame(99), 9.0) is None and ring.dropped == 1
    for i, (slot, gen) in enumerate(got):  # type: ignore[misc]
        assert (ring.view(slot, gen) == i).all() and ring.ts[slot] == float(i)
    slot1, gen1 = got[1]  # type: ignore[misc]
    ring.retain(slot1, gen1)
    ring.release(slot1, gen1)
    again = ring.put(frame(50), 5.0)
    assert again is not None and again[0] == slot1 and again[1] == gen1 + 1
    with pytest.raises(StaleSlotError):
        ring.view(slot1, gen1)  # the old generation is gone, and reading it says so
    assert (ring.view(*got[0]) == 0).all() and (ring.view(*got[2]) == 2).all()  # type: ignore[misc]


def test_slot_comes_back_only_when_the_last_holder_releases(ring: FrameRing) -> None:
    slot, gen = ring.put(frame(1), 0.0)  # type: ignore[misc]
    ring.retain(slot, gen)  # the pipeline
    ring.retain(slot, gen)  # a detector job reading crops from it
    ring.release(slot, gen)
    assert ring.held() == 1
    ring.release(slot, gen)
    assert ring.held() == 0


def test_unwrite_gives_back_a_slot_that_was_never_announced(ring: FrameRing) -> None:
    slot, gen = ring.put(frame(1), 0.0)  # type: ignore[misc]
    ring.unwrite(slot, gen)
    assert ring.held() == 0 and ring.dropped == 1


@pytest.mark.parametrize(("slots", "shape"), [(1, SHAPE), (3, (10, 10)), (3, (10, 10, 4))])
def test_bad_rings_are_rejected(slots: int, shape: tuple) -> None:
    with pytest.raises(ValueError):
        FrameRing.create(slots, shape)


def test_attach_to_missing_ring_names_it() -> None:
    with pytest.raises(FileNotFoundError, match="hw_missing_ring"):
        FrameRing.attach(RingSpec("hw_missing_ring", 2, SHAPE))


def _writer(spec: RingSpec, n: int, out: mp.Queue) -> None:
    ring = FrameRing.attach(spec)
    sent = 0
    i = 0
    while sent < n:
        got = ring.put(frame(i), float(i))  # every pixel of frame i holds i % 256
        if got is not None:
            out.put((got[0], got[1], i))
            sent += 1
        i += 1
    out.put(None)
    ring.close()


def test_across_processes_no_held_frame_is_ever_overwritten() -> None:
    """A writer process fills the ring as fast as it can while this process holds frames for a while; every
    frame read back still holds the value it was written with, and the writer dropped instead of reusing."""
    ring = FrameRing.create(4, SHAPE)
    ctx = mp.get_context("spawn")
    q: mp.Queue = ctx.Queue()
    p = ctx.Process(target=_writer, args=(ring.spec, 300, q))
    p.start()
    held: list[tuple[int, int, int]] = []
    seen = 0
    try:
        while (msg := q.get(timeout=30)) is not None:
            slot, gen, value = msg
            ring.retain(slot, gen)
            held.append((slot, gen, value))
            seen += 1
            if len(held) >= 3:  # hold three frames at once, re-check them, then release the oldest
                for s, g, v in held:
                    assert (ring.view(s, g) == v % 256).all()
                s, g, _ = held.pop(0)
                ring.release(s, g)
        p.join(30)
    finally:
        ring.close()
    assert seen == 300 and p.exitcode == 0
