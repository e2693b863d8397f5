"""Draw what one camera's pipeline sees onto its frame: zones, floor grid, people, timers and alerts.

Reads only the pipeline's public state after `process(frame)`: `state` (FrameState: tracked people, post
and counter membership, opening hours), each window's `empty_post` timer, the stages' last staff masks
when a stage exposes them, and the events of the frame. Everything is drawn with OpenCV on a copy.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import cv2
import numpy as np

from calibration.floor_fit import check_floor
from detectors.types import Event
from detectors.zones import Zone
from edge.config import NodeConfig
from edge.pipeline import CameraPipeline

if TYPE_CHECKING:
    from edge.audio_pipeline import AudioPipeline

# BGR colours: the same families as the editor page.
POST, COUNTER, STAFF_AREA = (0, 176, 255), (255, 183, 0), (255, 108, 180)
STAFF, CITIZEN, UNTRACKED = (0, 200, 255), (255, 220, 120), (170, 170, 170)
GRID, ALERT, OK = (0, 252, 124), (40, 40, 255), (120, 220, 120)
FONT = cv2.FONT_HERSHEY_SIMPLEX


@dataclass
class _Alert:
    event: Event
    ended_at: float | None = None


def _text(img: np.ndarray, text: str, org: tuple[int, int], scale: float, colour: tuple[int, int, int],
          thick: int = 1) -> None:
    # A dark box behind the text for contrast (a thicker black outline would not line up: OpenCV 5 spaces
    # glyphs by thickness).
    (tw, th), base = cv2.getTextSize(text, FONT, scale, thick)
    x, y = org
    cv2.rectangle(img, (x - 2, y - th - 3), (x + tw + 2, y + base), (20, 20, 20), -1)
    cv2.putText(img, text, org, FONT, scale, colour, thick, cv2.LINE_AA)


class PreviewOverlay:
    """Per-camera drawing state (zone polygons, floor grid, alerts seen so far); `draw` once per frame."""

    def __init__(self, cfg: NodeConfig, camera_id: str, pipeline: CameraPipeline,
                 audio: AudioPipeline | None = None) -> None:
        self.pipeline = pipeline
        self.audio = audio  # the replay's audio path, for the dispute timers of this camera's windows
        self.rules = cfg.rules
        self.staff_areas = [Zone(a.id, a.zone) for a in cfg.staff_areas_of(camera_id)]
        floor = cfg.camera(camera_id).floor  # already fitted when the config loaded
        self.grid_rel = [np.asarray(seg) for seg in check_floor(floor).grid_rel] if floor is not None else []
        self.alerts: dict[str, _Alert] = {}
        self.k = 1.0  # drawing scale, set per frame from its height

    # -- state ---------------------------------------------------------------------------------------------
    def _roles(self, frame_wh: tuple[int, int]) -> np.ndarray:
        """bool (N,): staff per person, as the chatting stage judged them (its roles, plus members of a
        gathering it follows); without that stage, whoever stands in a post zone or staff area."""
        st, chat = self.pipeline.state, self.pipeline.chatting
        if chat is not None and len(chat.last_staff) == len(st.people):
            tid = st.people.tracker_id
            return np.asarray(chat.last_staff, bool) | (np.isin(tid, chat.rule.sticky_ids()) & (tid >= 0))
        staff = np.zeros(len(st.people), bool)
        for mask in st.in_post.values():
            staff |= mask
        for z in self.staff_areas:
            staff |= z.trigger(st.people, frame_wh)
        return staff

    def note(self, events: list[Event], now: float) -> None:
        for ev in events:
            if ev.state == "start":
                self.alerts[ev.event_id] = _Alert(ev)
            elif ev.event_id in self.alerts:
                self.alerts[ev.event_id].event = ev
                if ev.state == "end":
                    self.alerts[ev.event_id].ended_at = now
        # keep ended alerts on screen for 3 s, then forget them
        self.alerts = {k: a for k, a in self.alerts.items() if a.ended_at is None or now - a.ended_at < 3.0}

    # -- drawing -------------------------------------------------------------------------------------------
    def draw(self, image: np.ndarray, now: float, events: list[Event]) -> np.ndarray:
        """A BGR copy of `image` (H, W, 3) with the overlay for the pipeline's state at `now` seconds."""
        self.note(events, now)
        h, w = image.shape[:2]
        self.k = min(2.5, max(0.6, h / 432))  # text and bar sizes follow the frame height
        scale = np.array([w, h], np.float64)
        out = image.copy()
        fill = image.copy()
        for line in self.grid_rel:
            cv2.polylines(out, [np.round(line * scale).astype(np.int32)], False, GRID, 1, cv2.LINE_AA)
        st = self.pipeline.state
        for wz in self.pipeline.windows:
            for zone, colour, mask in ((wz.post, POST, st.in_post.get(wz.id)),
                                       (wz.counter, COUNTER, st.in_counter.get(wz.id))):
                if zone is not None:
                    self._zone(out, fill, zone, colour, mask is not None and bool(mask.any()), (w, h))
        for z in self.staff_areas:
            inside = z.trigger(st.people, (w, h)) if len(st.people) else np.zeros(0, bool)
            self._zone(out, fill, z, STAFF_AREA, bool(inside.any()), (w, h))
        out = cv2.addWeighted(fill, 0.25, out, 0.75, 0)
        self._people(out, (w, h))
        self._timers(out, now)
        self._alerts(out, now, events)
        return out

    def _zone(self, out: np.ndarray, fill: np.ndarray, zone: Zone, colour: tuple[int, int, int],
              occupied: bool, wh: tuple[int, int]) -> None:
        poly = zone.polygon_px(wh)
        if occupied:  # zone membership: filled only while someone's feet are inside
            cv2.fillPoly(fill, [poly], colour)
        cv2.polylines(out, [poly], True, colour, 3 if occupied else 1, cv2.LINE_AA)
        x, y = poly[:, 0].min(), poly[:, 1].min()
        _text(out, zone.id, (int(x) + 3, int(y + 14 * self.k)), 0.45 * self.k, colour)

    def _people(self, out: np.ndarray, wh: tuple[int, int]) -> None:
        people = self.pipeline.state.people
        staff = self._roles(wh)
        for box, tid, is_staff, (fx, fy) in zip(people.xyxy.astype(int), people.tracker_id, staff,
                                                people.feet.astype(int), strict=True):
            colour = UNTRACKED if tid < 0 else (STAFF if is_staff else CITIZEN)
            cv2.rectangle(out, tuple(box[:2]), tuple(box[2:]), colour, 2)
            cv2.circle(out, (int(fx), int(fy)), 5, colour, -1, cv2.LINE_AA)
            cv2.circle(out, (int(fx), int(fy)), 5, (0, 0, 0), 1, cv2.LINE_AA)
            who = "staff" if is_staff else "citizen"
            top = box[1] > 40 * self.k  # else the label goes inside the box, at its top edge
            label_y = int(box[1] - 6 * self.k) if top else int(box[1] + 18 * self.k)
            _text(out, f"#{tid} {who}" if tid >= 0 else "new", (int(box[0]) + 2, label_y), 0.5 * self.k, colour)

    def timer_rows(self, now: float) -> list[tuple[float, tuple[int, int, int], str]]:
        """(fraction of the threshold, colour, label) per running timer: each window's empty post, its
        voice over the microphone's baseline and dispute timer, each gathering the chatting rule follows."""
        rows = []
        after = self.rules.empty_post.after_s
        for wz in self.pipeline.windows:
            rule = wz.empty_post
            empty_s = rule.empty_for_s(now)
            label = f"{wz.id} empty {empty_s:.1f}/{after:g} s" if rule.state == "empty" else f"{wz.id} {rule.state}"
            colour = ALERT if rule.active else (OK if rule.state == "staffed" else POST)
            rows.append((empty_s / after, colour, label + ("  ALERT" if rule.active else "")))
        if self.audio is not None:
            after, levels = self.rules.dispute.after_s, self.audio.levels()
            for wz in self.pipeline.windows:
                rule = self.audio.rules.get(wz.id)
                if rule is None:
                    continue
                over = levels.get(self.audio.window_mic[wz.id], {}).get("over_baseline_db")
                hot_s = rule.hot_for_s(now)
                label = f"{wz.id} voice " + ("-" if over is None else f"{over:+.1f} dB") + \
                    (f"  hot {hot_s:.1f}/{after:g} s" if hot_s > 0 else "") + ("  ALERT" if rule.active else "")
                rows.append((hot_s / after, ALERT if rule.active else COUNTER, label))
        chat = self.pipeline.chatting
        if chat is not None:
            after = self.rules.chatting.after_s
            for _, people, since, started in chat.rule.followed():
                label = f"chatting {people} staff {now - since:.1f}/{after:g} s" + ("  ALERT" if started else "")
                rows.append(((now - since) / after, ALERT if started else STAFF, label))
        return rows

    def _timers(self, out: np.ndarray, now: float) -> None:
        """One bar per timer toward its rule's threshold, bottom left; chatting members joined by lines."""
        k, step, bar = self.k, int(22 * self.k), int(150 * self.k)
        rows = self.timer_rows(now)
        y = out.shape[0] - int(12 * k) - step * (len(rows) - 1)
        for frac, colour, label in rows:
            cv2.rectangle(out, (10, y - int(12 * k)), (10 + bar, y + 2), (40, 40, 40), -1)
            cv2.rectangle(out, (10, y - int(12 * k)), (10 + int(bar * min(1.0, frac)), y + 2), colour, -1)
            _text(out, label, (18 + bar, y), 0.5 * k, colour)
            y += step
        chat, people = self.pipeline.chatting, self.pipeline.state.people
        if chat is not None and len(people):
            for members, _, _, started in chat.rule.followed():
                feet = people.feet[np.isin(people.tracker_id, members)].astype(np.int32)
                if len(feet) > 1:
                    cv2.polylines(out, [feet], True, ALERT if started else STAFF, 2, cv2.LINE_AA)

    def _alerts(self, out: np.ndarray, now: float, events: list[Event]) -> None:
        st = self.pipeline.state
        head = f"{self.pipeline.camera_id}  t={now:7.1f} s  people={len(st.people)}" + \
            ("" if st.is_open else "  (closed)")
        _text(out, head, (10, int(20 * self.k)), 0.55 * self.k, (255, 255, 255))
        y = int(44 * self.k)
        for a in self.alerts.values():
            ev = a.event
            what = f"{ev.type} {ev.window or ''}".strip()
            if a.ended_at is None:
                msg, colour = f"ALERT {what}  for {now - ev.started_at:.1f} s", ALERT
            else:
                msg, colour = f"ended {what} ({ev.details.get('reason', '')})", OK
            _text(out, msg, (10, y), 0.6 * self.k, colour, 2)
            y += int(24 * self.k)
        if any(ev.state == "start" for ev in events):  # flash the frame border when an alert fires
            cv2.rectangle(out, (0, 0), (out.shape[1] - 1, out.shape[0] - 1), ALERT, 6)
