"""The data currencies of the pipeline: `Detections` for people in one frame, `Event` for what rules emit.

`Detections` follows supervision's design: parallel numpy arrays, filtered with boolean masks or index
arrays (`dets[dets.class_id == 0]`), never a list of per-person Python objects.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from detectors.i420 import picture_hw

PERSON_CLASS_ID = 0  # COCO index of "person"

EventType = Literal["empty_post", "chatting", "dispute"]
EventState = Literal["start", "update", "end"]
EVENT_TYPES: tuple[str, ...] = ("empty_post", "chatting", "dispute")
SCHEMA_VERSION = 1


@dataclass(frozen=True)
class Detections:
    """Objects found in one frame.

    Attributes:
        xyxy: float32 array (N, 4), boxes as x1, y1, x2, y2 in pixels of the analysed frame.
        confidence: float32 array (N,), detector score 0..1.
        class_id: int32 array (N,), COCO class index (0 = person).
        tracker_id: int64 array (N,), track id, or -1 where the object is not tracked yet.
    """

    xyxy: np.ndarray
    confidence: np.ndarray
    class_id: np.ndarray
    tracker_id: np.ndarray = field(default=None)  # type: ignore[assignment]

    def __post_init__(self) -> None:
        xyxy = np.asarray(self.xyxy, dtype=np.float32).reshape(-1, 4)
        n = len(xyxy)
        object.__setattr__(self, "xyxy", xyxy)
        object.__setattr__(self, "confidence", np.asarray(self.confidence, dtype=np.float32).reshape(n))
        object.__setattr__(self, "class_id", np.asarray(self.class_id, dtype=np.int32).reshape(n))
        tid = self.tracker_id
        tid = np.full(n, -1, dtype=np.int64) if tid is None else np.asarray(tid, dtype=np.int64).reshape(n)
        object.__setattr__(self, "tracker_id", tid)

    @classmethod
    def empty(cls) -> Detections:
        return cls(np.zeros((0, 4), np.float32), np.zeros(0, np.float32), np.zeros(0, np.int32))

    def __len__(self) -> int:
        return len(self.xyxy)

    def __getitem__(self, index: np.ndarray | slice | list[int]) -> Detections:
        if isinstance(index, np.ndarray) and index.dtype == bool and index.shape != (len(self),):
            raise IndexError(f"boolean mask of shape {index.shape} for {len(self)} detections")
        return Detections(
            self.xyxy[index], self.confidence[index], self.class_id[index], self.tracker_id[index]
        )

    @property
    def feet(self) -> np.ndarray:
        """float32 array (N, 2): bottom-centre of each box (where the person stands), pixels."""
        return np.stack([(self.xyxy[:, 0] + self.xyxy[:, 2]) * 0.5, self.xyxy[:, 3]], axis=1)

    @property
    def height_px(self) -> np.ndarray:
        """float32 array (N,): box heights in pixels."""
        return self.xyxy[:, 3] - self.xyxy[:, 1]

    def scaled(self, sx: float, sy: float, dx: float = 0.0, dy: float = 0.0) -> Detections:
        """Boxes mapped by x' = x * sx + dx, y' = y * sy + dy (e.g. from a crop back to the frame)."""
        m = np.array([sx, sy, sx, sy], np.float32)
        o = np.array([dx, dy, dx, dy], np.float32)
        return Detections(self.xyxy * m + o, self.confidence, self.class_id, self.tracker_id)

    @classmethod
    def merge(cls, parts: list[Detections]) -> Detections:
        parts = [p for p in parts if len(p)]
        if not parts:
            return cls.empty()
        return cls(
            np.concatenate([p.xyxy for p in parts]),
            np.concatenate([p.confidence for p in parts]),
            np.concatenate([p.class_id for p in parts]),
            np.concatenate([p.tracker_id for p in parts]),
        )


def make_event_id(site: str, node: str, camera: str, window: str | None, kind: str, started_at: float) -> str:
    """A stable id for one incident: the same inputs give the same id (so replay is deterministic), and the
    site/node/camera in it make it unique across nodes."""
    key = f"{site}|{node}|{camera}|{window}|{kind}|{started_at:.3f}"
    return f"{node}-{kind}-{hashlib.sha1(key.encode()).hexdigest()[:16]}"


@dataclass(frozen=True)
class Event:
    """One state change of one incident, as in the wire contract of DESIGN.md.

    `t` and `started_at` are media seconds since source start in replay, epoch seconds live.
    """

    event_id: str
    type: EventType
    state: EventState
    site: str
    node: str
    camera: str
    window: str | None
    t: float
    started_at: float
    score: float = 1.0
    people: int | None = None
    details: dict[str, Any] = field(default_factory=dict)
    clip: str | None = None
    schema: int = SCHEMA_VERSION

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema": self.schema,
            "event_id": self.event_id,
            "type": self.type,
            "state": self.state,
            "site": self.site,
            "node": self.node,
            "camera": self.camera,
            "window": self.window,
            "t": round(float(self.t), 3),
            "started_at": round(float(self.started_at), 3),
            "score": round(float(self.score), 4),
            "people": self.people,
            "details": self.details,
            "clip": self.clip,
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Event:
        return cls(
            event_id=d["event_id"], type=d["type"], state=d["state"], site=d["site"], node=d["node"],
            camera=d["camera"], window=d.get("window"), t=float(d["t"]), started_at=float(d["started_at"]),
            score=float(d.get("score", 1.0)), people=d.get("people"), details=dict(d.get("details") or {}),
            clip=d.get("clip"), schema=int(d.get("schema", SCHEMA_VERSION)),
        )


@dataclass(frozen=True)
class EventSource:
    """Who raises events: stamped into every event a rule emits."""

    site: str
    node: str
    camera: str

    def event(self, kind: EventType, state: EventState, window: str | None, now: float, started_at: float,
              **kw: Any) -> Event:
        eid = make_event_id(self.site, self.node, self.camera, window, kind, started_at)
        return Event(eid, kind, state, self.site, self.node, self.camera, window, now, started_at, **kw)


@dataclass(frozen=True)
class Frame:
    """One decoded video frame.

    Attributes:
        ts: seconds; presentation time since source start for files, capture epoch time for live sources.
        image: uint8 array (H, W, 3), BGR; or, from a source asked for "i420" (the live node's capture),
            the decoded planar YUV 4:2:0 buffer (H * 3 / 2, W) (see detectors.i420).
        index: running number of the frame in its source (decoded frames, before fps resampling).
    """

    ts: float
    image: np.ndarray
    index: int = 0

    @property
    def wh(self) -> tuple[int, int]:
        h, w = self.image.shape[:2] if self.image.ndim == 3 else picture_hw(self.image.shape)  # BGR or I420
        return int(w), int(h)


@dataclass(frozen=True)
class AudioChunk:
    """A run of mono audio samples.

    Attributes:
        ts: seconds of the first sample, on the same clock as the video frames.
        samples: float32 array (N,), mono, -1..1.
        sample_rate: samples per second (16000 after resampling).
    """

    ts: float
    samples: np.ndarray
    sample_rate: int = 16000

    @property
    def duration_s(self) -> float:
        return len(self.samples) / float(self.sample_rate)
