"""POST /predict: faces, boxes and probabilities over real HTTP (TestClient)."""

from pathlib import Path

import cv2
import numpy as np
import onnxruntime as ort
import pytest
from fastapi.testclient import TestClient

from service.faces.detector import Box
from service.model_store import load_model_card
from service.preprocessing import PreprocessConfig, preprocess_face, to_model_input

LABELS = ["angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"]


def post_image(client: TestClient, data: bytes, name: str = "photo.png", **params: object) -> dict:
    response = client.post("/predict", files={"file": (name, data)}, params=params)
    assert response.status_code == 200, response.text
    return response.json()


def test_predict_image_returns_one_face_with_the_full_schema(client: TestClient, astronaut_path: Path) -> None:
    body = post_image(client, astronaut_path.read_bytes())
    assert set(body) == {"model", "image", "faces", "timings_ms"}
    assert body["model"]["name"] == "fer_cnn_snap" and body["model"]["version"]
    assert body["image"] == {"width": 384, "height": 384}
    assert set(body["timings_ms"]) == {"decode", "detect", "infer", "total"}
    [face] = body["faces"]
    assert set(face) == {"box", "landmarks", "emotion", "confidence", "probabilities"}
    assert face["landmarks"] is None  # the default detector, Haar, finds no keypoints
    assert Box(**face["box"]).iou(Box(133, 50, 71, 71)) > 0.8
    assert list(face["probabilities"]) == LABELS
    assert sum(face["probabilities"].values()) == pytest.approx(1.0, abs=1e-6)
    assert face["emotion"] == max(face["probabilities"], key=face["probabilities"].get)
    assert face["confidence"] == face["probabilities"][face["emotion"]]


def test_predict_image_returns_no_faces_for_the_cat(client: TestClient, chelsea_path: Path) -> None:
    body = post_image(client, chelsea_path.read_bytes())
    assert body["faces"] == [] and body["image"] == {"width": 451, "height": 300}


def test_predict_image_finds_every_face_of_a_composed_image(
    client: TestClient, multi_face_image: tuple[bytes, list[Box]]
) -> None:
    data, truth = multi_face_image
    faces = post_image(client, data)["faces"]
    boxes = [Box(**face["box"]) for face in faces]
    assert len(boxes) == 3
    assert all(max(t.iou(b) for b in boxes) > 0.3 for t in truth)
    assert [b.area for b in boxes] == sorted((b.area for b in boxes), reverse=True)
    for face in faces:
        assert sum(face["probabilities"].values()) == pytest.approx(1.0, abs=1e-6)


def test_predict_image_limits_faces_by_count_and_size(
    client: TestClient, multi_face_image: tuple[bytes, list[Box]]
) -> None:
    data, _ = multi_face_image
    every = post_image(client, data)["faces"]
    assert post_image(client, data, max_faces=1)["faces"] == every[:1]
    assert post_image(client, data, min_face_size=1000)["faces"] == []


def test_predict_image_classifies_at_most_the_configured_faces_whatever_the_client_asks(
    make_client, multi_face_image: tuple[bytes, list[Box]]
) -> None:
    data, _ = multi_face_image
    with make_client(max_faces=2) as client:
        capped = post_image(client, data)["faces"]
        assert post_image(client, data, max_faces=50)["faces"] == capped
        assert len(post_image(client, data, max_faces=1)["faces"]) == 1
    areas = [Box(**face["box"]).area for face in capped]
    assert len(capped) == 2 and areas == sorted(areas, reverse=True)  # the largest two of three


def test_predict_image_reports_boxes_in_original_pixels_for_large_images(make_client, astronaut_path: Path) -> None:
    large = cv2.resize(cv2.imread(str(astronaut_path)), None, fx=4, fy=4, interpolation=cv2.INTER_CUBIC)
    with make_client(detect_max_side=512) as client:
        body = post_image(client, cv2.imencode(".jpg", large)[1].tobytes(), name="large.jpg")
    assert body["image"] == {"width": 1536, "height": 1536}
    [face] = body["faces"]
    assert Box(**face["box"]).iou(Box(532, 200, 284, 284)) > 0.7


def test_predict_image_without_detection_matches_the_training_path(
    client: TestClient, model_dir: Path, fer_test_faces: list[Path]
) -> None:
    """A FER-2013 test JPEG sent with detect=false gets what evaluation computes for that file."""
    path = fer_test_faces[3]
    card = load_model_card(model_dir)
    pre = PreprocessConfig.from_dict(card.metadata["preprocessing"])
    face = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
    session = ort.InferenceSession(str(card.onnx_path), providers=["CPUExecutionProvider"])
    raw = session.run(None, {"face": to_model_input(preprocess_face(face, pre)[None], pre)})[0][0].astype(np.float64)
    expected = raw / raw.sum()  # the served int8 graph's output sums to 1 only within its quantization step

    [served] = post_image(client, path.read_bytes(), name=path.name, detect="false")["faces"]

    assert served["box"] == {"x": 0, "y": 0, "w": 48, "h": 48}
    np.testing.assert_allclose([served["probabilities"][label] for label in LABELS], expected, atol=1e-6)


def test_predict_image_annotates_a_jpeg_when_asked(client: TestClient, astronaut_path: Path) -> None:
    response = client.post(
        "/predict", files={"file": ("a.png", astronaut_path.read_bytes())}, params={"annotate": True}
    )
    assert response.status_code == 200
    assert response.headers["content-type"] == "image/jpeg"
    drawn = cv2.imdecode(np.frombuffer(response.content, np.uint8), cv2.IMREAD_COLOR)
    original = cv2.imread(str(astronaut_path))
    assert drawn.shape == original.shape
    box = post_image(client, astronaut_path.read_bytes())["faces"][0]["box"]
    top_edge = np.s_[box["y"], box["x"] + 5 : box["x"] + box["w"] - 5]
    assert np.abs(drawn[top_edge].astype(int) - original[top_edge]).mean() > 40


def test_predict_image_with_blazeface_returns_named_landmarks(client: TestClient, astronaut_path: Path) -> None:
    body = post_image(client, astronaut_path.read_bytes(), detector="blazeface")
    [face] = body["faces"]
    box = Box(**face["box"])
    assert box.iou(Box(132, 54, 74, 75)) > 0.8
    assert list(face["landmarks"]) == ["right_eye", "left_eye", "nose_tip", "mouth", "right_ear", "left_ear"]
    for name in ("right_eye", "left_eye", "nose_tip", "mouth"):
        point = face["landmarks"][name]
        assert box.x < point["x"] < box.x + box.w and box.y < point["y"] < box.y + box.h, name


def test_predict_image_refuses_an_unknown_detector(client: TestClient, astronaut_path: Path) -> None:
    response = client.post("/predict", files={"file": ("a.png", astronaut_path.read_bytes())}, params={"detector": "x"})
    assert response.status_code == 422


def test_predict_image_answers_400_for_a_detector_this_deployment_lacks(
    make_client, astronaut_path: Path, tmp_path: Path
) -> None:
    with make_client(detector_store=tmp_path) as client:
        files = {"file": ("a.png", astronaut_path.read_bytes())}
        response = client.post("/predict", files=files, params={"detector": "blazeface"})
    assert response.status_code == 400 and "not available" in response.json()["detail"]


def test_predict_image_serves_blazeface_by_default_when_configured(make_client, astronaut_path: Path) -> None:
    with make_client(detector="blazeface") as client:
        [face] = post_image(client, astronaut_path.read_bytes())["faces"]
    assert face["landmarks"] is not None and len(face["landmarks"]) == 6
