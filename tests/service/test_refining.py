"""The shipped crop refiner (service.refining) on tilted and shifted FER-2013 faces."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from service.app import load_model, load_refiner
from service.cropping import CropFrame, warp_crop
from service.detection import Box
from service.framing import Framing
from service.inference import DetectOptions, EmotionRecognizer
from service.model_store import ModelLoadError
from service.refining import CropRefiner

ROOT = Path(__file__).resolve().parents[2]
REFINER = ROOT / "model_store" / "face_refiner" / "1.1.0"
FACES = sorted((ROOT / "tests" / "fixtures" / "fer2013" / "test").rglob("*.jpg"))[:60]


def test_refiner_is_shipped_with_a_card() -> None:
    assert (REFINER / "model.json").is_file() and (REFINER / "model.onnx").is_file()
    assert len(FACES) == 60


def scene_of(face: np.ndarray) -> np.ndarray:
    """The face upscaled to 96 px in the middle of a 288 px image (mirrored around it)."""
    big = cv2.resize(face, (96, 96), interpolation=cv2.INTER_CUBIC)
    return cv2.copyMakeBorder(big, 96, 96, 96, 96, cv2.BORDER_REFLECT_101)


@pytest.mark.parametrize("tilt", [-18.0, 18.0])
def test_refiner_turns_tilted_crops_back_towards_upright(tilt: float) -> None:
    refiner = CropRefiner(REFINER, passes=1)
    scenes = [scene_of(cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)) for path in FACES]
    tilted = [warp_crop(scene, CropFrame(144.0, 144.0, 96.0, 96.0, tilt)) for scene in scenes]
    turns = refiner.corrections(tilted)[:, 0]
    # The crop is turned by +tilt from upright, so the correction is -tilt: most of the way there.
    assert np.median(np.abs(turns + tilt)) < 0.5 * abs(tilt)
    assert np.mean(np.sign(turns) == -np.sign(tilt)) > 0.8


def test_refiner_recentres_shifted_crops() -> None:
    refiner = CropRefiner(REFINER, passes=1)
    scenes = [scene_of(cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)) for path in FACES]
    shifted = [warp_crop(scene, CropFrame(144.0 + 12.0, 144.0, 96.0, 96.0)) for scene in scenes]
    u = refiner.corrections(shifted)[:, 1]  # the face lies 12 / 96 = 0.125 crop sides to the left
    assert np.median(u) < -0.05


def test_refiner_without_a_card_fails_to_load(tmp_path: Path) -> None:
    with pytest.raises(ModelLoadError, match="no crop refiner card"):
        CropRefiner(tmp_path)


class FixedBox:
    """A detector that always finds the same box (no landmarks, no framing), like a frontal-only detector."""

    name = "fixed"
    framing = Framing()

    def __init__(self, box: Box) -> None:
        self.box = box

    def detect(self, gray: np.ndarray, min_face: int | None = None) -> list[Box]:
        return [self.box]

    def working_bytes(self, height: int, width: int) -> int:
        return 0


def correlation(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.corrcoef(a.astype(float).ravel(), b.astype(float).ravel())[0, 1])


def test_load_refiner_follows_the_passes_setting(make_settings) -> None:
    assert load_refiner(make_settings(refine_passes=0)) is None
    refiner = load_refiner(make_settings(refine_passes=2))
    assert refiner is not None and refiner.passes == 2 and refiner.version == "1.1.0"


def test_recognizer_with_refiner_classifies_a_more_upright_crop(make_settings) -> None:
    loaded = load_model(make_settings(refine_passes=1))
    assert loaded.refiner is not None
    plain = EmotionRecognizer(loaded.card, loaded.session, FixedBox(Box(96, 96, 96, 96)))
    refined = EmotionRecognizer(loaded.card, loaded.session, FixedBox(Box(96, 96, 96, 96)), refiner=loaded.refiner)
    similarity = []
    for path in FACES[:40]:
        scene = scene_of(cv2.imread(str(path), cv2.IMREAD_GRAYSCALE))
        upright = plain.locate(scene, DetectOptions())[1]  # the model input of the face as planted
        tilted = warp_crop(scene, CropFrame(144.0, 144.0, 288.0, 288.0, 20.0))  # the whole scene, turned
        similarity.append([correlation(r.locate(tilted, DetectOptions())[1], upright) for r in (plain, refined)])
    before, after = np.median(np.array(similarity), axis=0)
    assert after > before + 0.05, (before, after)


def test_load_refiner_without_its_folder_serves_unrefined(make_settings, tmp_path: Path, caplog) -> None:
    assert load_refiner(make_settings(model_store=tmp_path, refine_passes=1)) is None
    assert "no crop refiner" in caplog.text
