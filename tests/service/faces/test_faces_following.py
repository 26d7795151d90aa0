"""service.faces.following: faces re-detected near their last boxes, whole-frame searches only now and then."""

import numpy as np
import pytest

from service.faces.blazeface import BlazeFaceDetector
from service.faces.detector import Box
from service.faces.following import FaceFollower
from service.faces.haar import HaarConfig, HaarDetector

ASTRONAUT_FACE = Box(133, 50, 71, 71)


def framed(astronaut_gray: np.ndarray, dx: int, dy: int) -> np.ndarray:
    """The photo at (80 + dx, 40 + dy) in a grey 640x480 frame."""
    frame = np.full((480, 640), 128, np.uint8)
    frame[40 + dy : 424 + dy, 80 + dx : 464 + dx] = astronaut_gray
    return frame


@pytest.mark.parametrize("detector_name", ["haar", "blazeface"])
def test_detect_follows_a_moving_face_with_one_whole_frame_search(
    blazeface: BlazeFaceDetector, astronaut_gray: np.ndarray, detector_name: str
) -> None:
    detector = blazeface if detector_name == "blazeface" else HaarDetector(HaarConfig())
    follower = FaceFollower(every=10, margin=0.5)
    for step in range(6):
        dx, dy = 4 * step, 3 * step
        [box] = follower.detect(detector, framed(astronaut_gray, dx, dy), None, None)
        expected = Box(ASTRONAUT_FACE.x + 80 + dx, ASTRONAUT_FACE.y + 40 + dy, 71, 71)
        assert box.iou(expected) > 0.7, step
    assert follower.full_searches == 1


def test_detect_searches_the_whole_frame_every_n_frames(
    blazeface: BlazeFaceDetector, astronaut_gray: np.ndarray
) -> None:
    follower = FaceFollower(every=3, margin=0.5)
    frame = framed(astronaut_gray, 0, 0)
    for _ in range(7):
        assert len(follower.detect(blazeface, frame, None, None)) == 1
    assert follower.full_searches == 3  # frames 1, 4 and 7


def test_detect_searches_the_whole_frame_when_a_face_is_lost(
    blazeface: BlazeFaceDetector, astronaut_gray: np.ndarray
) -> None:
    follower = FaceFollower(every=10, margin=0.5)
    follower.detect(blazeface, framed(astronaut_gray, 0, 0), None, None)
    moved = framed(astronaut_gray, 150, 0)  # jumped out of its search region
    [box] = follower.detect(blazeface, moved, None, None)
    assert follower.full_searches == 2
    assert box.x > ASTRONAUT_FACE.x + 80 + 100
    assert follower.detect(blazeface, np.full((480, 640), 128, np.uint8), None, None) == []


def test_reset_makes_the_next_frame_a_whole_frame_search(
    blazeface: BlazeFaceDetector, astronaut_gray: np.ndarray
) -> None:
    follower = FaceFollower(every=10, margin=0.5)
    frame = framed(astronaut_gray, 0, 0)
    follower.detect(blazeface, frame, None, None)
    follower.reset()
    follower.detect(blazeface, frame, None, None)
    assert follower.full_searches == 2
