"""service.annotate: boxes, labels and confidences drawn onto the image."""

import cv2
import numpy as np

from service.annotate import LANDMARK_COLOR, annotate, encode_jpeg
from service.faces.detector import Box, Landmark
from service.inference import FacePrediction


def test_annotate_draws_a_labelled_box_without_touching_the_input() -> None:
    pixels = np.full((200, 300), 128, np.uint8)
    faces = [FacePrediction(Box(100, 60, 80, 80), {"happy": 0.9, "sad": 0.1})]
    drawn = annotate(pixels, faces)
    assert drawn.shape == (200, 300, 3)
    assert not np.array_equal(drawn[60, 100:180], np.full((80, 3), 128))  # the box's top edge
    assert np.array_equal(drawn[120, 140], [128, 128, 128])  # the face itself is left visible
    assert (pixels == 128).all()


def test_encode_jpeg_gives_a_decodable_jpeg() -> None:
    data = encode_jpeg(np.zeros((20, 30, 3), np.uint8))
    assert data[:2] == b"\xff\xd8"
    assert cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR).shape == (20, 30, 3)


def test_annotate_draws_the_landmarks_of_a_face() -> None:
    pixels = np.full((200, 300), 128, np.uint8)
    box = Box(100, 60, 80, 80, (Landmark("right_eye", 120.0, 90.0), Landmark("left_eye", 160.0, 90.0)))
    drawn = annotate(pixels, [FacePrediction(box, {"happy": 0.9, "sad": 0.1})])
    assert tuple(drawn[90, 120]) == LANDMARK_COLOR and tuple(drawn[90, 160]) == LANDMARK_COLOR
    assert np.array_equal(drawn[120, 140], [128, 128, 128])
