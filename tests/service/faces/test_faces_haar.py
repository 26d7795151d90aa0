"""service.faces.haar: Haar cascade face boxes in original-image pixels."""

from pathlib import Path

import cv2
import numpy as np
import pytest

from service.faces.detector import Box, DetectorLoadError
from service.faces.haar import HaarConfig, HaarDetector, resolve_cascade

ASTRONAUT_FACE = Box(133, 50, 71, 71)  # where the cascade finds it on the committed 384x384 photo


def test_detect_finds_the_one_face_of_the_astronaut(detector: HaarDetector, astronaut_path: Path) -> None:
    boxes = detector.detect(cv2.imread(str(astronaut_path), cv2.IMREAD_GRAYSCALE))
    assert len(boxes) == 1
    assert boxes[0].iou(ASTRONAUT_FACE) > 0.8


def test_detect_finds_no_face_on_the_cat(detector: HaarDetector, chelsea_path: Path) -> None:
    assert detector.detect(cv2.imread(str(chelsea_path), cv2.IMREAD_GRAYSCALE)) == []


def test_detect_maps_boxes_from_the_downscaled_copy_back(astronaut_path: Path) -> None:
    gray = cv2.imread(str(astronaut_path), cv2.IMREAD_GRAYSCALE)
    large = cv2.resize(gray, None, fx=4, fy=4, interpolation=cv2.INTER_CUBIC)  # 1536x1536
    boxes = HaarDetector(HaarConfig(max_side=512)).detect(large)
    expected = Box(ASTRONAUT_FACE.x * 4, ASTRONAUT_FACE.y * 4, ASTRONAUT_FACE.w * 4, ASTRONAUT_FACE.h * 4)
    assert len(boxes) == 1 and boxes[0].iou(expected) > 0.7


@pytest.mark.parametrize(("shape", "expected"), [((480, 640), 0.5), ((3024, 4032), 0.25), ((240, 200), 1.0)])
def test_search_scale_shrinks_to_max_side_but_at_most_max_downscale(shape: tuple[int, int], expected: float) -> None:
    assert HaarConfig(max_side=320, max_downscale=4).search_scale(*shape) == expected


def test_detect_keeps_mid_sized_faces_of_a_12_megapixel_photo(astronaut_path: Path) -> None:
    person = cv2.resize(cv2.imread(str(astronaut_path), cv2.IMREAD_GRAYSCALE), None, fx=3, fy=3)
    photo = np.full((3024, 4032), 127, np.uint8)
    photo[900 : 900 + person.shape[0], 1400 : 1400 + person.shape[1]] = person
    face = Box(1400 + 3 * ASTRONAUT_FACE.x, 900 + 3 * ASTRONAUT_FACE.y, 3 * ASTRONAUT_FACE.w, 3 * ASTRONAUT_FACE.h)
    boxes = HaarDetector(HaarConfig()).detect(photo)
    assert len(boxes) == 1 and boxes[0].iou(face) > 0.7
    # Shrunk to 320 px as a whole, the 213 px face would be 17 px: below the cascade's 24 px window.
    assert HaarDetector(HaarConfig(max_downscale=100)).detect(photo) == []


def test_detect_finds_a_71_px_face_in_a_640x480_webcam_frame(detector: HaarDetector, astronaut_path: Path) -> None:
    frame = np.full((480, 640, 3), 127, np.uint8)
    frame[48:432, 128:512] = cv2.imread(str(astronaut_path))  # the demo test's fake-webcam frame
    i420 = cv2.cvtColor(cv2.cvtColor(frame, cv2.COLOR_BGR2YUV_I420), cv2.COLOR_YUV2BGR_I420)
    jpeg = cv2.imencode(".jpg", i420, [cv2.IMWRITE_JPEG_QUALITY, 80])[1]
    boxes = detector.detect(cv2.imdecode(jpeg, cv2.IMREAD_GRAYSCALE))
    face = Box(128 + ASTRONAUT_FACE.x, 48 + ASTRONAUT_FACE.y, ASTRONAUT_FACE.w, ASTRONAUT_FACE.h)
    assert len(boxes) == 1 and boxes[0].iou(face) > 0.7


def test_detect_ignores_faces_below_the_minimum_size(detector: HaarDetector, astronaut_path: Path) -> None:
    gray = cv2.imread(str(astronaut_path), cv2.IMREAD_GRAYSCALE)
    assert detector.detect(gray, min_face=100) == []


def test_detect_sorts_faces_largest_first(detector: HaarDetector, multi_face_image: tuple[bytes, list[Box]]) -> None:
    gray = cv2.imdecode(np.frombuffer(multi_face_image[0], np.uint8), cv2.IMREAD_GRAYSCALE)
    areas = [box.area for box in detector.detect(gray)]
    assert len(areas) == 3 and areas == sorted(areas, reverse=True)


def test_detector_fails_fast_for_a_missing_cascade(tmp_path: Path) -> None:
    with pytest.raises(DetectorLoadError):
        HaarDetector(HaarConfig(), cascade_path=tmp_path / "missing.xml")


def test_resolve_cascade_finds_a_bundled_cascade_by_name() -> None:
    path = resolve_cascade("haarcascade_frontalface_alt2.xml")
    assert path.is_file() and path.parent == Path(cv2.data.haarcascades)  # type: ignore[attr-defined]


def test_resolve_cascade_keeps_an_explicit_path(tmp_path: Path) -> None:
    assert resolve_cascade(str(tmp_path / "mine.xml")) == tmp_path / "mine.xml"


@pytest.mark.parametrize("cascade", ["haarcascade_frontalface_default.xml", "haarcascade_frontalface_alt2.xml"])
def test_detect_finds_the_astronaut_with_each_cascade(cascade: str, astronaut_path: Path) -> None:
    boxes = HaarDetector(HaarConfig(cascade=cascade)).detect(cv2.imread(str(astronaut_path), cv2.IMREAD_GRAYSCALE))
    assert len(boxes) == 1 and boxes[0].iou(ASTRONAUT_FACE) > 0.7


def test_detector_fails_fast_for_an_unknown_cascade_name() -> None:
    with pytest.raises(DetectorLoadError):
        HaarDetector(HaarConfig(cascade="haarcascade_no_such_face.xml"))
