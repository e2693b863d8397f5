"""Per-camera glue for the chatting rule: tracked people in, chatting events out.

    stage = ChattingStage.build(source, rules.chatting, camera.floor,
                                staff_areas=[a.zone for a in cfg.staff_areas_of(cam)],
                                posts=[w.post for w in cfg.windows_of(cam)],
                                counters=[w.counter for w in cfg.windows_of(cam) if w.counter])
    events = stage.update(tracked_people, frame.wh, frame.ts)   # once per analysed frame
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from detectors.chatting import ChattingRule
from detectors.config import ChattingRuleConfig, FloorConfig
from detectors.floor import FloorModel, feet_hidden
from detectors.roles import StaffRoles
from detectors.types import PERSON_CLASS_ID, Detections, Event, EventSource
from detectors.zones import Zone


class PositionHold:
    """Keeps each track's last floor position seen with its feet visible, for `hold_s` seconds.

    A person standing behind someone nearer the camera has a box cut short by the occlusion; its bottom
    would put them metres farther away and break their group apart. While hidden, a tracked person keeps
    their last good position; a hidden person with no recent good position is left out (NaN).
    Parallel sorted arrays and numpy lookups: no loop over people.
    """

    def __init__(self, hold_s: float) -> None:
        self.hold_s = float(hold_s)
        self._ids = np.zeros(0, np.int64)
        self._xy = np.zeros((0, 2))
        self._t = np.zeros(0)

    def apply(self, track_ids: np.ndarray, points_m: np.ndarray, hidden: np.ndarray, now: float) -> np.ndarray:
        """float (N, 2): `points_m` with hidden people moved to their held positions (or NaN)."""
        keep = (now - self._t) <= self.hold_s
        ids, xy, ts = self._ids[keep], self._xy[keep], self._t[keep]
        out = np.array(points_m, np.float64).reshape(-1, 2)
        out[hidden] = np.nan
        if len(ids):
            pos = np.minimum(np.searchsorted(ids, track_ids), len(ids) - 1)
            use = hidden & (track_ids >= 0) & (ids[pos] == track_ids)
            out[use] = xy[pos[use]]
        good = ~hidden & (track_ids >= 0) & np.all(np.isfinite(out), axis=1)
        new_ids, first = np.unique(track_ids[good], return_index=True)
        old = ~np.isin(ids, new_ids)
        ids = np.concatenate([ids[old], new_ids])
        order = np.argsort(ids, kind="stable")
        self._ids = ids[order]
        self._xy = np.concatenate([xy[old], out[good][first]])[order]
        self._t = np.concatenate([ts[old], np.full(len(new_ids), float(now))])[order]
        return out


class ChattingStage:
    """Floor model + staff roles + chatting rule for one camera.

    Per frame: who is staff (roles, from the feet in zones), where everyone stands (floor model, with
    hidden feet held at their last good position), then the rule.

    The floor model depends on the analysed frame size, which is known only when frames arrive; it is
    built on the first frame and rebuilt only if the size changes (the homography fit is checked when
    the config loads, so this cannot fail for a config that loaded).
    """

    def __init__(self, source: EventSource, cfg: ChattingRuleConfig, floor: FloorConfig | None,
                 staff_zones: Sequence[Zone], counter_zones: Sequence[Zone] = (), *,
                 person_height_m: float = 1.7, hfov_deg: float = 60.0) -> None:
        self.floor_cfg = floor
        self.roles = StaffRoles(staff_zones, counter_zones, memory_s=cfg.staff_memory_s)
        self.rule = ChattingRule(source, cfg)
        self.hold = PositionHold(cfg.occlusion_hold_s)
        self._fallback = {"person_height_m": person_height_m, "hfov_deg": hfov_deg}
        self._floor: FloorModel | None = None
        self.last_points_m = np.zeros((0, 2))  # float (N, 2) of the last frame's people, for drawing
        self.last_staff = np.zeros(0, dtype=bool)  # bool (N,) of the last frame's people

    @classmethod
    def build(cls, source: EventSource, cfg: ChattingRuleConfig, floor: FloorConfig | None, *,
              staff_areas: Sequence[Sequence[Sequence[float]]] = (),
              posts: Sequence[Sequence[Sequence[float]]] = (),
              counters: Sequence[Sequence[Sequence[float]]] = (), **fallback: float) -> ChattingStage:
        """From config polygons (relative 0..1): staff areas and post zones make staff, counters do not."""
        staff = [Zone(f"staff_area{i}", p) for i, p in enumerate(staff_areas)]
        staff += [Zone(f"post{i}", p) for i, p in enumerate(posts)]
        counter = [Zone(f"counter{i}", p) for i, p in enumerate(counters)]
        return cls(source, cfg, floor, staff, counter, **fallback)

    def floor(self, frame_wh: tuple[int, int]) -> FloorModel:
        """The floor model for frames of this size (cached)."""
        if self._floor is None or self._floor.frame_wh != tuple(frame_wh):
            self._floor = FloorModel.from_config(self.floor_cfg, frame_wh, **self._fallback)
        return self._floor

    def update(self, people: Detections, frame_wh: tuple[int, int], now: float) -> list[Event]:
        """Events for one analysed frame; `people` are tracked detections (other classes are ignored)."""
        people = people[people.class_id == PERSON_CLASS_ID]
        staff = self.roles.update(people, frame_wh, now)
        hidden = feet_hidden(people.xyxy, margin_px=0.015 * frame_wh[1])
        pts = self.hold.apply(people.tracker_id, self.floor(frame_wh).locate(people), hidden, now)
        self.last_points_m, self.last_staff = pts, staff
        return self.rule.update(pts, staff, now, people.tracker_id)

    def close(self, now: float, reason: str = "source_ended") -> list[Event]:
        """End alerts still going on when the source ends (or the hall closes: `reason="closed"`)."""
        return self.rule.close(now, reason)
