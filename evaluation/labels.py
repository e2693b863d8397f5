"""Truth labels and predicted alert intervals.

Truth (JSON, DESIGN.md): `[{"type": "empty_post", "window": "W1", "start": 4.0, "end": 7.5}, ...]`, where
`start` is when the alert should begin and `end` when the condition cleared (media seconds).
Predicted intervals come from an events.jsonl: one interval per `event_id`, from its `start` event to
its `end` event (or its last event when the file holds no `end`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from detectors.types import EVENT_TYPES


class LabelError(ValueError):
    """A truth or events file that cannot be read; names the file, the entry and the problem."""


@dataclass(frozen=True)
class Interval:
    type: str
    window: str | None
    start: float
    end: float
    event_id: str | None = None
    camera: str | None = None


def load_truth(path: str | Path) -> list[Interval]:
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise LabelError(f"{path}: cannot read ({exc.strerror})") from None
    except json.JSONDecodeError as exc:
        raise LabelError(f"{path}: not valid JSON: {exc}") from None
    if not isinstance(data, list):
        raise LabelError(f"{path}: expected a JSON list of labels")
    out = []
    for i, item in enumerate(data):
        if not isinstance(item, dict):
            raise LabelError(f"{path}: [{i}]: expected an object")
        kind = item.get("type")
        if kind not in EVENT_TYPES:
            raise LabelError(f"{path}: [{i}].type: expected one of {list(EVENT_TYPES)}, got {kind!r}")
        try:
            start, end = float(item["start"]), float(item["end"])
        except (KeyError, TypeError, ValueError):
            raise LabelError(f"{path}: [{i}]: start and end must be numbers (seconds)") from None
        if end < start:
            raise LabelError(f"{path}: [{i}]: end {end} is before start {start}")
        out.append(Interval(kind, item.get("window"), start, end, camera=item.get("camera")))
    return out


def load_events(path: str | Path) -> list[dict]:
    path = Path(path)
    events = []
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise LabelError(f"{path}: cannot read ({exc.strerror})") from None
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            ev = json.loads(line)
        except json.JSONDecodeError as exc:
            raise LabelError(f"{path}: line {n}: not valid JSON: {exc}") from None
        if not isinstance(ev, dict) or not {"event_id", "type", "state", "t"} <= ev.keys():
            raise LabelError(f"{path}: line {n}: not an event (needs event_id, type, state, t)")
        events.append(ev)
    return events


def intervals_from_events(events: list[dict]) -> list[Interval]:
    """One interval per event_id: start event time to end event time (or the last event seen)."""
    spans: dict[str, dict] = {}
    for ev in events:
        s = spans.setdefault(ev["event_id"], {"type": ev["type"], "window": ev.get("window"),
                                              "camera": ev.get("camera"), "start": None, "end": None,
                                              "last": float(ev["t"])})
        t = float(ev["t"])
        s["last"] = max(s["last"], t)
        if ev["state"] == "start":
            s["start"] = t
        elif ev["state"] == "end":
            s["end"] = t
    out = []
    for eid, s in spans.items():
        start = s["start"] if s["start"] is not None else s["last"]
        end = s["end"] if s["end"] is not None else s["last"]
        out.append(Interval(s["type"], s["window"], start, max(start, end), event_id=eid, camera=s["camera"]))
    out.sort(key=lambda iv: (iv.start, iv.type, str(iv.window)))
    return out
