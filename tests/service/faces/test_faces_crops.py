"""service.faces.crops: reframed and eye-levelled face crops."""

from pathlib import Path

import cv2
import numpy as np
import pytest

from service.faces.crops import crop_face, eye_angle
from service.faces.detector import Box, Landmark
from service.faces.framing import NO_FRAMING, Framing


def eyes(right: tuple[float, float], left: tuple[float, float]) -> tuple[Landmark, ...]:
    return (Landmark("right_eye", *right), Landmark("left_eye", *left))


def test_eye_angle_measures_the_tilt_of_the_eye_line() -> None:
    assert eye_angle(Box(0, 0, 10, 10, eyes((0, 0), (10, 10)))) == pytest.approx(45.0)
    assert eye_angle(Box(0, 0, 10, 10, eyes((0, 10), (10, 0)))) == pytest.approx(-45.0)
    assert eye_angle(Box(0, 0, 10, 10)) == 0.0  # no landmarks (Haar): nothing to level


def test_crop_face_slices_the_box_without_framing_or_landmarks() -> None:
    image = np.arange(100 * 100, dtype=np.uint32).reshape(100, 100)
    crop = crop_face(image, Box(10, 20, 30, 40), NO_FRAMING, align=True)
    assert crop.shape == (40, 30) and crop[0, 0] == 20 * 100 + 10


def test_crop_face_scales_and_moves_the_box_by_the_framing() -> None:
    image = np.zeros((200, 200), np.uint8)
    image[90:110, 90:110] = 255  # a bright square centred on (100, 100)
    framing = Framing(scale_x=2.0, scale_y=2.0, dx=0.25, dy=0.25)
    crop = crop_face(image, Box(65, 65, 20, 20), framing, align=False)  # centre (75, 75) + (5, 5)
    assert crop.shape == (40, 40)
    assert crop[20, 20] == 0  # the crop's centre is (80, 80), outside the square
    assert crop[35, 35] == 255  # and (95, 95), 15 px further, inside it


def test_crop_face_levels_the_eyes_of_a_tilted_face(fer_test_faces: list[Path]) -> None:
    face = cv2.resize(cv2.imread(str(fer_test_faces[0]), cv2.IMREAD_GRAYSCALE), (96, 96))
    scene = np.full((200, 200), 128, np.uint8)
    scene[52:148, 52:148] = face
    turn = cv2.getRotationMatrix2D((100.0, 100.0), 20, 1.0)
    tilted = cv2.warpAffine(scene, turn, (200, 200))
    # Where two level points 40 px apart on the face land once turned: an eye line at -20 degrees.
    (rx, ry), (lx, ly) = (turn @ np.array([[80, 90, 1], [120, 90, 1]]).T).T
    box = Box(52, 52, 96, 96, eyes((rx, ry), (lx, ly)))
    assert eye_angle(box) == pytest.approx(-20.0, abs=0.01)
    levelled = crop_face(tilted, box, NO_FRAMING, align=True).astype(float)
    unlevelled = crop_face(tilted, box, NO_FRAMING, align=False).astype(float)
    original = face.astype(float)
    assert np.abs(levelled - original)[8:-8, 8:-8].mean() < 6
    assert np.abs(unlevelled - original)[8:-8, 8:-8].mean() > 15
