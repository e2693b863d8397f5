"""The clustered-chatting rule: staff standing together on the floor for too long.

Per frame, staff positions in floor metres are linked when within `radius_m` of each other and split into
connected groups (one vectorised distance matrix and its transitive closure by repeated squaring, no Python
loop over pairs). A group of at least `min_people` staff is a *gathering*.

When is it the same gathering from frame to frame? Membership may change (people join and leave), so a
group in this frame continues a gathering of the last frames when
1. they share at least one track id (the most shared ids win; active gatherings before pending ones), or
2. failing that (untracked people, or a tracker that switched every id at once under occlusion), the
   group's floor centroid lies within `radius_m` of the gathering's last centroid.
A group that continues nobody and has `min_people` or more starts a new (pending) gathering.

Timers, all from the frames' timestamps:
- a pending gathering raises `start` once it has existed `after_s` and has `min_people` now; a dip below
  `min_people` shorter than `clear_after_s` does not restart that clock (one person hidden behind another
  for a moment is not a new gathering), a longer one forgets the gathering;
- an active gathering sends an `update` every `update_every_s` (while it has `min_people`) and ends when
  it has had fewer than `min_people` (or has not been seen) for `clear_after_s`.
A person once counted as staff in a gathering stays counted as staff while that gathering lives (sticky
members, even if they step aside for a moment), so a staff member who walked out of the staff area does
not drop out when the role memory runs out mid-chat.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from detectors.config import ChattingRuleConfig
from detectors.types import Event, EventSource, make_event_id


@dataclass
class Group:
    """One connected group of staff in one frame."""

    index: np.ndarray  # int64 (K,): rows of the frame's people arrays
    ids: np.ndarray  # int64 (K',): their track ids (untracked left out)
    centroid_m: np.ndarray  # float64 (2,)

    @property
    def size(self) -> int:
        return len(self.index)


def component_labels(adjacent: np.ndarray) -> np.ndarray:
    """int64 (N,): for each node, the lowest index in its connected component.

    `adjacent` is a symmetric bool (N, N) matrix with a true diagonal. Reachability is squared until it
    stops growing (at most log2(N) + 1 matrix products), so there is no Python loop over pairs; for the
    tens of people in one camera view this costs microseconds, less than building a scipy sparse graph.
    """
    reach = adjacent.astype(np.float32)
    while True:
        nxt = (reach @ reach > 0).astype(np.float32)
        if np.array_equal(nxt, reach):
            return np.argmax(reach > 0, axis=1).astype(np.int64)
        reach = nxt


def staff_groups(points_m: np.ndarray, staff: np.ndarray, track_ids: np.ndarray, radius_m: float) -> list[Group]:
    """Connected groups of staff whose floor distance chains within `radius_m`.

    Args:
        points_m: float (N, 2), floor positions; rows with NaN are left out.
        staff: bool (N,), who may take part.
        track_ids: int (N,), -1 for untracked.
    Returns groups largest first (ties by lowest row), singletons included.
    """
    idx = np.flatnonzero(staff & np.all(np.isfinite(points_m), axis=1))
    if len(idx) == 0:
        return []
    p = points_m[idx]
    d2 = np.sum((p[:, None, :] - p[None, :, :]) ** 2, axis=-1)
    _, labels = np.unique(component_labels(d2 <= radius_m * radius_m), return_inverse=True)
    n = int(labels.max()) + 1
    sizes = np.bincount(labels, minlength=n)
    groups = []
    for lab in np.lexsort((np.arange(n), -sizes)):  # one iteration per group, not per pair
        rows = idx[labels == lab]
        tid = track_ids[rows]
        groups.append(Group(rows, np.unique(tid[tid >= 0]), points_m[rows].mean(axis=0)))
    return groups


@dataclass
class _Gathering:
    seq: int
    members: np.ndarray  # int64 track ids seen in it last time
    sticky: np.ndarray  # int64 track ids ever counted in it: they stay staff while it lives
    centroid_m: np.ndarray
    people: int
    since: float  # when it first had min_people
    small_since: float | None = None  # when it last fell below min_people (None while big)
    started_at: float | None = None  # alert start; None while pending
    last_emit: float = 0.0
    max_people: int = 0


class ChattingRule:
    """Timers over the gatherings of one camera. Call `update` once per analysed frame."""

    def __init__(self, source: EventSource, cfg: ChattingRuleConfig) -> None:
        self.source = source
        self.cfg = cfg
        self._gatherings: list[_Gathering] = []
        self._seq = 0

    @property
    def active(self) -> int:
        """Number of gatherings with an alert going on."""
        return sum(g.started_at is not None for g in self._gatherings)

    def followed(self) -> list[tuple[np.ndarray, int, float, float | None]]:
        """Read-only view for previews: per gathering being followed, (member track ids int64 (K,),
        people now, seconds when it first had min_people, alert start or None while pending)."""
        return [(g.members.copy(), g.people, g.since, g.started_at) for g in self._gatherings]

    def sticky_ids(self) -> np.ndarray:
        """int64 array: track ids in any gathering being followed (they keep counting as staff)."""
        if not self._gatherings:
            return np.zeros(0, np.int64)
        return np.unique(np.concatenate([g.sticky for g in self._gatherings]))

    def update(self, points_m: np.ndarray, staff_mask: np.ndarray, now: float,
               track_ids: np.ndarray | None = None) -> list[Event]:
        """Events for this frame.

        Args:
            points_m: float (N, 2), floor positions of all people, metres (NaN: unknown, left out).
            staff_mask: bool (N,), who counts as staff now.
            now: the frame's time, seconds.
            track_ids: int (N,), tracker ids (-1 untracked); without them gatherings follow centroids only.
        """
        pts = np.asarray(points_m, np.float64).reshape(-1, 2)
        tid = np.full(len(pts), -1, np.int64) if track_ids is None else np.asarray(track_ids, np.int64)
        staff = np.asarray(staff_mask, bool) | (np.isin(tid, self.sticky_ids()) & (tid >= 0))
        groups = staff_groups(pts, staff, tid, self.cfg.radius_m)
        matched = self._match(groups)
        seen: set[int] = set()
        for gi, group in enumerate(groups):
            g = matched.get(gi)
            if g is None:
                if group.size < self.cfg.min_people:
                    continue
                self._seq += 1
                g = _Gathering(self._seq, group.ids, group.ids, group.centroid_m, group.size, since=now)
                self._gatherings.append(g)
            g.members, g.centroid_m, g.people = group.ids, group.centroid_m, group.size
            g.sticky = np.union1d(g.sticky, group.ids)
            seen.add(id(g))
        events: list[Event] = []
        for g in list(self._gatherings):
            if id(g) not in seen:
                g.people = 0
            events.extend(self._step(g, now))
        return events

    def close(self, now: float, reason: str = "source_ended") -> list[Event]:
        """End every active alert (the source ended, or the hall closed); pending gatherings are forgotten."""
        events = [self._end(g, now, reason) for g in self._gatherings if g.started_at is not None]
        self._gatherings = []
        return events

    def _match(self, groups: list[Group]) -> dict[int, _Gathering]:
        """Greedy one-to-one match of this frame's groups to known gatherings (see the module docstring)."""
        pairs = []
        for gi, group in enumerate(groups):
            for g in self._gatherings:
                overlap = int(np.isin(group.ids, g.members).sum())
                dist = float(np.linalg.norm(group.centroid_m - g.centroid_m))
                if overlap > 0 or dist <= self.cfg.radius_m:
                    pairs.append((-overlap, g.started_at is None, g.since, dist, gi, g))
        pairs.sort(key=lambda p: p[:4])
        out: dict[int, _Gathering] = {}
        taken: set[int] = set()
        for *_, gi, g in pairs:
            if gi not in out and id(g) not in taken:
                out[gi] = g
                taken.add(id(g))
        return out

    def _step(self, g: _Gathering, now: float) -> list[Event]:
        big = g.people >= self.cfg.min_people
        if big:
            g.small_since = None
            g.max_people = max(g.max_people, g.people)
        elif g.small_since is None:
            g.small_since = now
        small_s = 0.0 if g.small_since is None else now - g.small_since
        if g.started_at is None:
            if not big and small_s >= self.cfg.clear_after_s:
                self._gatherings.remove(g)  # dispersed before the alarm: forget it
            elif big and now - g.since >= self.cfg.after_s:
                g.started_at = g.last_emit = now
                return [self._event(g, "start", now)]
            return []
        if not big and small_s >= self.cfg.clear_after_s:
            self._gatherings.remove(g)
            return [self._end(g, now, "dispersed")]
        if big and now - g.last_emit >= self.cfg.update_every_s:  # no updates while it may be breaking up
            g.last_emit = now
            return [self._event(g, "update", now)]
        return []

    def _end(self, g: _Gathering, now: float, reason: str) -> Event:
        return self._event(g, "end", now, reason=reason, alert_s=round(now - (g.started_at or now), 3),
                           max_people=g.max_people)

    def _event(self, g: _Gathering, state: str, now: float, **extra: object) -> Event:
        started = g.started_at if g.started_at is not None else now
        src = self.source
        # The gathering's number goes into the id so two gatherings alerting in one frame stay apart.
        eid = make_event_id(src.site, src.node, src.camera, f"gathering-{g.seq}", "chatting", started)
        details = {
            "centroid_m": [round(float(v), 2) for v in g.centroid_m],
            "members": [int(i) for i in g.members],
            "gathering_since": round(g.since, 3),
            "radius_m": self.cfg.radius_m,
            **extra,
        }
        return Event(eid, "chatting", state, src.site, src.node, src.camera, None, now,  # type: ignore[arg-type]
                     started, score=1.0, people=g.people, details=details)
