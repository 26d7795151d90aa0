"""service.faces.loading: which detectors a deployment loads, and choosing one per request."""

from pathlib import Path

import cv2
import numpy as np
import pytest

from service.faces.detector import DetectorLoadError, DetectorUnavailableError
from service.faces.loading import load_detectors
from service.inference import CropPolicy, DetectOptions, EmotionRecognizer


def test_load_detectors_loads_both_from_the_committed_store(make_settings) -> None:
    detectors = load_detectors(make_settings())
    assert sorted(detectors) == ["blazeface", "haar"]
    assert detectors["blazeface"].framing.scale_x > 1.1  # BlazeFace's box is tighter than a FER-2013 face


def test_load_detectors_keeps_haar_when_the_store_has_no_blazeface(make_settings, tmp_path: Path) -> None:
    assert list(load_detectors(make_settings(detector_store=tmp_path))) == ["haar"]


def test_load_detectors_fails_when_the_configured_blazeface_is_missing(make_settings, tmp_path: Path) -> None:
    with pytest.raises(DetectorLoadError, match="no BlazeFace model"):
        load_detectors(make_settings(detector_store=tmp_path, detector="blazeface"))


def test_detector_for_refuses_a_detector_that_is_not_loaded(recognizer: EmotionRecognizer) -> None:
    with pytest.raises(DetectorUnavailableError) as caught:
        recognizer.detector_for(DetectOptions(detector="mtcnn"))
    assert caught.value.status_code == 400 and "haar" in caught.value.detail


def test_predict_uses_the_detector_a_request_names(recognizer: EmotionRecognizer, astronaut_gray: np.ndarray) -> None:
    [haar] = recognizer.predict(astronaut_gray)
    [blazeface] = recognizer.predict(astronaut_gray, DetectOptions(detector="blazeface"))
    assert haar.box.landmarks == () and len(blazeface.box.landmarks) == 6
    assert haar.box.iou(blazeface.box) > 0.7


def test_locate_aligns_a_tilted_face_closer_to_the_upright_one(
    recognizer: EmotionRecognizer, astronaut_gray: np.ndarray
) -> None:
    turn = cv2.getRotationMatrix2D((168.0, 90.0), 25, 1.0)
    tilted = cv2.warpAffine(astronaut_gray, turn, (384, 384), borderMode=cv2.BORDER_REPLICATE)
    options = DetectOptions(detector="blazeface")
    unaligned = EmotionRecognizer(
        recognizer.model, recognizer._session, recognizer.detector, recognizer.detectors, CropPolicy(align=False)
    )
    differences = []
    for pipeline in (recognizer, unaligned):
        _, upright = pipeline.locate(astronaut_gray, options)
        _, turned = pipeline.locate(tilted, options)
        differences.append(float(np.abs(turned - upright).mean()))
    # The model input of the tilted face is closer to the upright face's once the eyes are level.
    assert differences[0] < 0.8 * differences[1]
