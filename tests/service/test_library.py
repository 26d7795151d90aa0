"""``import service; service.analyze(...)``: the faces POST /predict answers, with no server."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import cv2
import pytest
from fastapi.testclient import TestClient

import service
from service.library import FaceAnalyzer


@pytest.fixture(scope="module")
def analyzer(make_settings) -> FaceAnalyzer:  # type: ignore[no-untyped-def]
    return FaceAnalyzer(settings=make_settings())


def test_analyze_finds_the_astronauts_happy_face(astronaut_path: Path) -> None:
    faces = service.analyze(astronaut_path)
    assert len(faces) == 1
    assert faces[0].emotion == "happy" and max(faces[0].probabilities.values()) == faces[0].probabilities["happy"]


def test_analyze_gives_the_faces_post_predict_gives(
    analyzer: FaceAnalyzer, client: TestClient, astronaut_path: Path
) -> None:
    for detector in ("haar", "blazeface"):
        upload = {"file": ("astronaut.png", astronaut_path.read_bytes())}
        served = client.post("/predict", files=upload, params={"detector": detector}).json()
        local = [face.model_dump() for face in analyzer.analyze(astronaut_path, detector=detector)]
        assert [f["box"] for f in local] == [f["box"] for f in served["faces"]]
        assert [f["landmarks"] for f in local] == [f["landmarks"] for f in served["faces"]]
        for mine, theirs in zip(local, served["faces"], strict=True):
            assert mine["emotion"] == theirs["emotion"]
            assert mine["probabilities"] == pytest.approx(theirs["probabilities"], abs=1e-6)
        assert analyzer.model.model_dump() == served["model"]


def test_analyze_takes_a_path_bytes_or_an_opencv_image(analyzer: FaceAnalyzer, astronaut_path: Path) -> None:
    from_path = analyzer.analyze(str(astronaut_path))
    from_bytes = analyzer.analyze(astronaut_path.read_bytes())
    from_array = analyzer.analyze(cv2.imread(str(astronaut_path)))
    assert from_path == from_bytes
    assert [f.box for f in from_array] == [f.box for f in from_path] and from_array[0].emotion == "happy"


def test_analyze_options_cap_and_skip_detection(analyzer: FaceAnalyzer, multi_face_image) -> None:  # type: ignore[no-untyped-def]
    data, boxes = multi_face_image
    assert len(analyzer.analyze(data)) == len(boxes) == 3
    assert len(analyzer.analyze(data, max_faces=2)) == 2
    whole = analyzer.analyze(data, detect=False)
    assert len(whole) == 1 and whole[0].box.x == 0 and whole[0].box.y == 0


def test_analyze_refuses_what_predict_refuses_with_the_same_sentence(analyzer: FaceAnalyzer, make_png_header) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(service.ImageError) as refused:
        analyzer.analyze(make_png_header(10_000, 10_000))
    assert (refused.value.status_code, refused.value.detail) == (
        413,
        "image is 10000x10000 = 100000000 pixels, more than the 25000000 allowed",
    )


def test_analyzer_rejects_an_unknown_detector_when_built(make_settings) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValueError, match="detector"):
        FaceAnalyzer(detector="dlib", settings=make_settings())


def test_importing_service_loads_no_model_or_onnx_runtime() -> None:
    code = "import sys, service; print('onnxruntime' in sys.modules, 'service.library' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert done.stdout.split() == ["False", "False"]
