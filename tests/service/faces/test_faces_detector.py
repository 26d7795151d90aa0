"""service.faces.detector: face boxes and their landmarks."""

import pytest

from service.faces.detector import Box, Landmark


@pytest.mark.parametrize(
    ("other", "expected"),
    [(Box(0, 0, 10, 10), 1.0), (Box(5, 0, 10, 10), 50 / 150), (Box(20, 20, 5, 5), 0.0)],
)
def test_box_iou(other: Box, expected: float) -> None:
    assert Box(0, 0, 10, 10).iou(other) == pytest.approx(expected)


def test_box_moved_maps_a_region_box_and_its_landmarks_back() -> None:
    box = Box(10, 20, 40, 40, (Landmark("right_eye", 20.0, 30.0),))
    moved = box.moved(0.5, 100, 200)
    assert moved == Box(120, 240, 80, 80)
    assert moved.landmarks == (Landmark("right_eye", 140.0, 260.0),)
