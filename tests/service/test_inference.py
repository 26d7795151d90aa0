"""service.inference: the EmotionRecognizer without HTTP, including train/serve parity."""

from pathlib import Path

import cv2
import numpy as np
import onnxruntime as ort
import pytest

from service.faces.detector import Box
from service.inference import DetectOptions, EmotionRecognizer
from service.model_store import load_model_card
from service.preprocessing import PreprocessConfig, preprocess_face, to_model_input


def test_predict_finds_one_face_with_all_probabilities(recognizer: EmotionRecognizer, astronaut_path: Path) -> None:
    faces = recognizer.predict(cv2.imread(str(astronaut_path)))
    assert len(faces) == 1
    face = faces[0]
    assert list(face.probabilities) == list(recognizer.labels) and len(face.probabilities) == 7
    assert sum(face.probabilities.values()) == pytest.approx(1.0, abs=1e-9)
    assert face.emotion == max(face.probabilities, key=face.probabilities.__getitem__)
    assert face.confidence == face.probabilities[face.emotion]


def test_predict_returns_no_faces_for_the_cat(recognizer: EmotionRecognizer, chelsea_path: Path) -> None:
    assert recognizer.predict(cv2.imread(str(chelsea_path), cv2.IMREAD_GRAYSCALE)) == []


def test_predict_keeps_the_largest_faces_up_to_max_faces(
    recognizer: EmotionRecognizer, multi_face_image: tuple[bytes, list[Box]]
) -> None:
    gray = cv2.imdecode(np.frombuffer(multi_face_image[0], np.uint8), cv2.IMREAD_GRAYSCALE)
    every = recognizer.predict(gray)
    two = recognizer.predict(gray, DetectOptions(max_faces=2))
    assert len(every) == 3
    assert [f.box for f in two] == [f.box for f in every[:2]]


def test_predict_without_detection_treats_the_image_as_one_face(
    recognizer: EmotionRecognizer, fer_test_faces: list[Path]
) -> None:
    face = cv2.imread(str(fer_test_faces[0]), cv2.IMREAD_GRAYSCALE)
    [prediction] = recognizer.predict(face, DetectOptions(detect=False))
    assert prediction.box == Box(0, 0, 48, 48)
    assert prediction.probabilities == recognizer.predict_faces([face])[0].probabilities


def test_predict_faces_matches_the_training_evaluation_path(
    recognizer: EmotionRecognizer, model_dir: Path, fer_test_faces: list[Path]
) -> None:
    """Same FER-2013 test images: service probabilities == ONNX Runtime on the shared preprocessing."""
    faces = [cv2.imread(str(path), cv2.IMREAD_GRAYSCALE) for path in fer_test_faces[::7]]
    card = load_model_card(model_dir)
    pre = PreprocessConfig.from_dict(card.metadata["preprocessing"])
    session = ort.InferenceSession(str(card.onnx_path), providers=["CPUExecutionProvider"])
    inputs = to_model_input(np.stack([preprocess_face(face, pre) for face in faces]), pre)
    raw = session.run(["probs"], {"face": inputs})[0].astype(np.float64)
    # The served int8 graph's rows sum to 1 only within its quantization step; the service renormalises them.
    expected = raw / raw.sum(axis=1, keepdims=True)

    served = recognizer.predict_faces(faces)

    got = np.array([[p.probabilities[label] for label in card.metadata["labels"]] for p in served])
    np.testing.assert_allclose(got, expected, atol=1e-6)
    assert [p.emotion for p in served] == [card.metadata["labels"][i] for i in expected.argmax(axis=1)]


def test_predict_faces_accepts_crops_of_any_size(recognizer: EmotionRecognizer, astronaut_path: Path) -> None:
    image = cv2.imread(str(astronaut_path))
    crops = [image[50:121, 133:204], image[40:140, 120:220]]
    predictions = recognizer.predict_faces(crops)
    assert [p.box for p in predictions] == [Box(0, 0, 71, 71), Box(0, 0, 100, 100)]


def test_predict_faces_of_nothing_is_empty(recognizer: EmotionRecognizer) -> None:
    assert recognizer.predict_faces([]) == []
