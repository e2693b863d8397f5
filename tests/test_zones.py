import numpy as np
import pytest

from detectors.types import Detections
from detectors.zones import Zone, ZoneError

SQUARE = [[0.2, 0.2], [0.6, 0.2], [0.6, 0.6], [0.2, 0.6]]
L_SHAPE = [[0.0, 0.0], [0.5, 0.0], [0.5, 0.25], [0.25, 0.25], [0.25, 0.5], [0.0, 0.5]]


@pytest.mark.parametrize(
    "polygon, point, inside",
    [
        (SQUARE, (0.4, 0.4), True),
        (SQUARE, (0.1, 0.4), False),
        (SQUARE, (0.7, 0.4), False),
        (SQUARE, (0.4, 0.65), False),
        (L_SHAPE, (0.1, 0.1), True),
        (L_SHAPE, (0.4, 0.1), True),
        (L_SHAPE, (0.4, 0.4), False),  # the notch of the L
        (L_SHAPE, (0.1, 0.4), True),
    ],
)
def test_contains_rel(polygon, point, inside):
    assert Zone("z", polygon).contains_rel(np.array([point]))[0] == inside


def test_trigger_uses_feet_in_pixels():
    zone = Zone("post", SQUARE)
    # 1000x500 frame: the square spans x 200..600, y 100..300 in pixels.
    people = Detections(
        np.array([[300, 50, 340, 250],   # feet (320, 250): inside
                  [300, 50, 340, 350],   # feet (320, 350): below the zone although the box overlaps it
                  [700, 50, 740, 250]]),  # right of the zone
        [0.9, 0.9, 0.9], [0, 0, 0],
    )
    assert zone.trigger(people, (1000, 500)).tolist() == [True, False, False]


def test_trigger_empty_detections():
    assert Zone("z", SQUARE).trigger(Detections.empty(), (640, 360)).shape == (0,)


@pytest.mark.parametrize(
    "polygon, message",
    [
        ([[0.1, 0.1], [0.2, 0.2]], "at least 3"),
        ([[0.1, 0.1], [0.2, 0.2], [0.3, 0.3]], "no area"),
        ([[0.1, 0.1], [1.2, 0.1], [0.5, 0.5]], "0..1"),
        ([[0.1, 0.1, 0.1], [0.2, 0.2, 0.2], [0.3, 0.1, 0.0]], "[x, y] pairs"),
    ],
)
def test_bad_polygons_rejected(polygon, message):
    with pytest.raises(ZoneError, match=message.replace("[", r"\[").replace("]", r"\]")):
        Zone("z", polygon)


def test_polygon_px_roundtrip():
    assert Zone("z", SQUARE).polygon_px((100, 50)).tolist() == [[20, 10], [60, 10], [60, 30], [20, 30]]
