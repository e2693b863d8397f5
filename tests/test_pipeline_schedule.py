"""Opening hours apply to every rule of the pipeline: at closing time a staff gathering's alert ends
(reason "closed") and none starts while the hall is closed."""

from datetime import UTC, datetime

import numpy as np

from detectors.types import Detections
from edge.config import parse_config
from edge.pipeline import CameraPipeline

CFG = {
    "site": "s", "node": "n",
    "cameras": [{"id": "cam1", "source": "unused.mp4", "detect_fps": 5}],
    "staff_areas": [{"id": "back", "camera": "cam1", "zone": [[0, 0], [1, 0], [1, 1], [0, 1]]}],
    "rules": {"chatting": {"min_people": 3, "radius_m": 1.5, "after_s": 2, "clear_after_s": 1}},
    "schedule": {"timezone": "UTC", "open": ["09:00-10:00"]},
}
OPENS_AT = datetime(2026, 11, 30, 9, 59, 50, tzinfo=UTC).timestamp()  # 10 s before closing


def three_people_together() -> Detections:
    boxes = [[300 + 50 * k, 200, 340 + 50 * k, 370] for k in range(3)]  # 170 px tall, 50 px apart
    return Detections(np.array(boxes, np.float32), [0.9] * 3, [0] * 3, [1, 2, 3])


def test_gathering_ends_at_closing_and_none_starts_while_closed():
    cfg = parse_config(CFG)
    pipe = CameraPipeline(cfg, "cam1", detector=lambda img: Detections.empty(),
                          wall_clock=lambda t: OPENS_AT + t)
    events = []
    for k in range(150):  # 30 s at 5 fps: open for the first 10 s, closed after
        now = k * 0.2
        events += [(e.type, e.state, round(e.t, 1), e.details.get("reason"))
                   for e in pipe.apply_rules(three_people_together(), (1280, 720), now)]
    chatting = [e for e in events if e[0] == "chatting" and e[1] != "update"]
    assert [(s, r) for _, s, _, r in chatting] == [("start", None), ("end", "closed")]
    assert chatting[0][2] < 10.0 <= chatting[1][2] < 10.3
