"""Who counts as staff for the chatting rule.

A person is staff in a frame when their feet (box bottom-centre) are in a staff area or a window's post
zone, or when their track was seen in one within the last `memory_s` seconds, so a staff member who steps
out into the public area to chat is still staff. Counter zones are the citizens' side of the windows: a
person whose feet are in a counter zone is not made staff by an overlapping staff area (zones drawn a
little too generously must not turn a queue into staff), but a track already known as staff stays staff
when it walks to a counter. Everybody else (the queue, passers-by, untracked people outside staff zones)
is not staff.

The memory is two parallel arrays (track ids, last time seen in a staff zone), updated with numpy set
operations: no Python loop over people per frame.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from detectors.types import Detections
from detectors.zones import Zone


def _any_zone(zones: Sequence[Zone], feet_px: np.ndarray, frame_wh: tuple[int, int]) -> np.ndarray:
    """bool array (N,): feet inside any of the zones."""
    inside = np.zeros(len(feet_px), dtype=bool)
    for z in zones:  # a handful of zones per camera, each one vectorised over all people
        inside |= z.contains_px(feet_px, frame_wh)
    return inside


class StaffRoles:
    """Remembers which tracks are staff.

    Args:
        staff_zones: staff areas and post zones of one camera (relative polygons).
        counter_zones: the counter (citizen) zones of the same camera.
        memory_s: a track seen in a staff zone this many seconds ago still counts as staff.
    """

    def __init__(self, staff_zones: Sequence[Zone], counter_zones: Sequence[Zone] = (), *,
                 memory_s: float = 60.0) -> None:
        if memory_s < 0:
            raise ValueError(f"memory_s must be >= 0 seconds, got {memory_s}")
        self.staff_zones = list(staff_zones)
        self.counter_zones = list(counter_zones)
        self.memory_s = float(memory_s)
        self._ids = np.zeros(0, dtype=np.int64)  # sorted track ids known as staff
        self._seen = np.zeros(0, dtype=np.float64)  # last time each was in a staff zone, seconds

    @property
    def known_ids(self) -> np.ndarray:
        """int64 array: track ids currently remembered as staff."""
        return self._ids.copy()

    def update(self, people: Detections, frame_wh: tuple[int, int], now: float) -> np.ndarray:
        """bool array (N,): which of `people` count as staff at time `now` (seconds).

        Untracked people (tracker_id -1) are judged by where they stand in this frame only.
        """
        # A box running past the frame edge (feet out of view) stands where it meets the edge: clip its feet
        # just inside, or zones drawn to the edge (relative 1.0) would never contain it.
        w, h = frame_wh
        feet = np.clip(people.feet, 0.0, np.array([w, h], np.float32) * np.float32(0.9999))
        in_counter = _any_zone(self.counter_zones, feet, frame_wh)
        in_staff = _any_zone(self.staff_zones, feet, frame_wh) & ~in_counter
        tid = people.tracker_id
        self._remember(np.unique(tid[in_staff & (tid >= 0)]), now)
        remembered = np.isin(tid, self._ids) & (tid >= 0)
        return in_staff | remembered

    def _remember(self, seen_ids: np.ndarray, now: float) -> None:
        """Stamp `seen_ids` (sorted, unique) with `now` and forget ids not seen within memory_s."""
        keep = (now - self._seen) <= self.memory_s
        ids, seen = self._ids[keep], self._seen[keep]
        old = ~np.isin(ids, seen_ids)
        ids = np.concatenate([ids[old], seen_ids])
        seen = np.concatenate([seen[old], np.full(len(seen_ids), float(now))])
        order = np.argsort(ids, kind="stable")
        self._ids, self._seen = ids[order], seen[order]
