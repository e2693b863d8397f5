"""The per-camera, per-frame code: detect -> track -> zones -> rules -> events.

Replay and the live node run exactly this code; only where frames come from and where events go differ.
Everything here takes the frame's own timestamp as `now`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from detectors.chatting_stage import ChattingStage
from detectors.empty_post import EmptyPost
from detectors.gating import GatedDetector
from detectors.schedule import Schedule
from detectors.tracking import PersonTracker
from detectors.types import PERSON_CLASS_ID, Detections, Event, EventSource, Frame
from detectors.zones import Zone
from edge.config import NodeConfig

log = logging.getLogger(__name__)

Detector = Callable[[np.ndarray], Detections]
WallClock = Callable[[float], float | None]


class Stage(Protocol):
    """An extra per-frame rule stage (chatting, ...) fed with the tracked people of each analysed frame while
    the hall is open; a stage with `close(now, reason)` has its alerts ended when the hall closes."""

    def update(self, people: Detections, frame_wh: tuple[int, int], now: float) -> list[Event]: ...


@dataclass
class WindowZones:
    """A window's zones on this camera and its empty-post timer."""

    id: str
    post: Zone
    counter: Zone | None
    empty_post: EmptyPost


@dataclass
class FrameState:
    """What the pipeline saw in the last analysed frame (for preview, stats and the audio fusion)."""

    ts: float = 0.0
    frame_wh: tuple[int, int] = (0, 0)
    people: Detections = field(default_factory=Detections.empty)
    in_post: dict[str, np.ndarray] = field(default_factory=dict)  # window -> bool mask over people
    in_counter: dict[str, np.ndarray] = field(default_factory=dict)
    is_open: bool = True

    def counter_people(self) -> dict[str, int]:
        return {w: int(m.sum()) for w, m in self.in_counter.items()}


def chatting_stage(cfg: NodeConfig, camera_id: str, source: EventSource) -> ChattingStage | None:
    """The chatting rule for one camera: its floor calibration, staff areas and post zones (staff), and
    counter zones (citizens)."""
    if not cfg.rules.chatting.enabled:
        return None
    wins = cfg.windows_of(camera_id)
    return ChattingStage.build(source, cfg.rules.chatting, cfg.camera(camera_id).floor,
                               staff_areas=[a.zone for a in cfg.staff_areas_of(camera_id)],
                               posts=[w.post for w in wins], counters=[w.counter for w in wins if w.counter])


class CameraPipeline:
    """Rules for one camera.

    Args:
        cfg: the node config.
        camera_id: which camera of `cfg`.
        detector: image (H, W, 3) BGR -> Detections in that image's pixels (all classes or people only).
        wall_clock: media seconds -> epoch seconds for the opening-hours schedule; None means unknown
            (the schedule then counts as open). Live: identity. Replay: start time + media seconds.
        stages: extra rule stages fed with the tracked people (the chatting stage is always built, unless
            `rules.chatting.enabled` is false).
        gated: motion-gated detection (`detectors.gating`); when given it replaces `detector` and is fed
            the previous frame's tracked people (carried when still, re-checked every `recheck_s`).
    """

    def __init__(self, cfg: NodeConfig, camera_id: str, detector: Detector, *,
                 wall_clock: WallClock | None = None, stages: list[Stage] | None = None,
                 gated: GatedDetector | None = None) -> None:
        cam = cfg.camera(camera_id)
        self.camera_id = camera_id
        self.detector = detector
        self.gated = gated
        self.source = EventSource(cfg.site, cfg.node, camera_id)
        self.tracker = PersonTracker(cfg.tracker, cam.detect_fps)
        self.schedule = Schedule(cfg.schedule)
        self.wall_clock = wall_clock
        self.windows = [
            WindowZones(w.id, Zone(f"{w.id}.post", w.post),
                        Zone(f"{w.id}.counter", w.counter) if w.counter else None,
                        EmptyPost(self.source, w.id, cfg.rules.empty_post))
            for w in cfg.windows_of(camera_id)
        ]
        self.chatting = chatting_stage(cfg, camera_id, self.source)
        self.stages: list[Stage] = ([self.chatting] if self.chatting else []) + list(stages or [])
        self.state = FrameState()
        self.frames = 0

    def is_open(self, now: float) -> bool:
        wall = self.wall_clock(now) if self.wall_clock is not None else None
        return self.schedule.is_open(wall)

    def process(self, frame: Frame, detections: Detections | None = None) -> list[Event]:
        """Run one analysed frame; `detections` may be given when inference ran elsewhere."""
        if detections is not None:
            dets = detections
        elif self.gated is not None:
            dets = self.gated(frame.image, frame.ts, self.state.people)
        else:
            dets = self.detector(frame.image)
        dets = dets[dets.class_id == PERSON_CLASS_ID]
        people = self.tracker.update(dets, frame.ts)
        return self.apply_rules(people, frame.wh, frame.ts)

    def apply_rules(self, people: Detections, frame_wh: tuple[int, int], now: float) -> list[Event]:
        """Zones and rules over already tracked people."""
        self.frames += 1
        is_open = self.is_open(now)
        st = FrameState(ts=now, frame_wh=frame_wh, people=people, is_open=is_open)
        events: list[Event] = []
        for w in self.windows:
            mask = w.post.trigger(people, frame_wh)
            st.in_post[w.id] = mask
            if w.counter is not None:
                st.in_counter[w.id] = w.counter.trigger(people, frame_wh)
            events += w.empty_post.update(int(mask.sum()), now, is_open)
        if is_open:
            for stage in self.stages:
                events += stage.update(people, frame_wh, now)
        elif self.state.is_open:  # the hall just closed: gatherings and the like end, nothing new starts
            events += self._close_stages(now, "closed")
        self.state = st
        return events

    def _close_stages(self, now: float, reason: str) -> list[Event]:
        events: list[Event] = []
        for stage in self.stages:
            closer = getattr(stage, "close", None)
            if closer is not None:
                events += closer(now, reason=reason)
        return events

    def window_states(self) -> dict[str, str]:
        """Per window: staffed | empty | closed (for the retained MQTT window state)."""
        return {w.id: w.empty_post.state for w in self.windows}

    def close(self, now: float) -> list[Event]:
        """End every active alert (the source ended); returns their `end` events."""
        events: list[Event] = []
        for w in self.windows:
            if w.empty_post.active:
                events.append(w.empty_post.end(now, 0, reason="source_ended"))
        events += self._close_stages(now, "source_ended")
        return events
