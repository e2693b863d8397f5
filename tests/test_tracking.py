"""The tracker keeps one id per person through detector flicker."""

import numpy as np

from detectors.config import TrackerConfig
from detectors.tracking import PersonTracker
from detectors.types import Detections


def people(xs, conf=0.9):
    boxes = np.array([[x, 100, x + 40, 200] for x in xs], np.float32)
    return Detections(boxes, [conf] * len(xs), [0] * len(xs))


def test_ids_survive_a_missed_frame_and_stay_distinct():
    tr = PersonTracker(TrackerConfig(lost_s=1.0, min_consecutive=2), detect_fps=5)
    ids = []
    for k in range(10):
        xs = [100 + 2 * k, 400] if k != 4 else [100 + 2 * k]  # person 2 missed at frame 4
        out = tr.update(people(xs), k * 0.2)
        ids.append(dict(zip(np.round(out.xyxy[:, 0]).astype(int).tolist(), out.tracker_id.tolist(),
                            strict=True)))
    first = ids[2]
    assert len(set(first.values())) == 2 and -1 not in first.values()
    assert ids[9][400] == first[400]  # the same id after the missed frame
    assert ids[9][118] == first[104]


def test_empty_input():
    tr = PersonTracker(TrackerConfig(), detect_fps=5)
    assert len(tr.update(Detections.empty(), 0.0)) == 0
