"""The pipeline evaluation's own tools: detection and crop scoring on planted scenes."""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest

from bench.eval_pipeline import variants
from bench.faces.scoring import PlantedSquares, binned, detect_all, paired_accuracy
from service.faces.crops import crop_face
from service.faces.framing import Framing
from training.planting import Planted, planted_scenes

from ..fake_detectors import ShrunkBoxes


def fake_faces(count: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    return rng.integers(0, 256, (count, 48, 48), dtype=np.uint8), np.arange(count) % 7


def test_detect_all_counts_found_faces_and_false_boxes() -> None:
    scenes = planted_scenes(*fake_faces(5), seed=2, max_angle=0)
    detections = detect_all(ShrunkBoxes(scenes), scenes)
    assert detections.found == [0, 1, 2, 3, 4] and detections.false_detections == 5


def test_planted_squares_crop_gives_back_the_upright_original_face() -> None:
    faces = np.stack([cv2.resize(np.tile(np.linspace(0, 255, 6, dtype=np.uint8), (6, 1)), (48, 48))] * 3)
    faces[:, :12] = 255  # a bright "forehead" band: the face's up direction matters too
    scenes = planted_scenes(faces, np.zeros(3, int), seed=5, max_angle=25)
    oracle = PlantedSquares(scenes)

    def error(case: Planted, align: bool) -> float:
        (box,) = oracle.detect(case.scene)
        crop = cv2.resize(crop_face(case.scene, box, Framing(), align), (48, 48), interpolation=cv2.INTER_AREA)
        return float(np.abs(crop[4:-4, 4:-4].astype(float) - case.face[4:-4, 4:-4]).mean())

    for case in scenes:
        assert error(case, align=True) < 8, case.angle  # resampling only
        if abs(case.angle) > 10:
            assert error(case, align=False) > 2 * error(case, align=True)


def test_paired_accuracy_gives_the_gap_and_its_standard_error() -> None:
    labels = np.array([0, 1, 2, 3, 4, 5, 6, 0])
    on_originals = labels.copy()
    on_crops = labels.copy()
    on_crops[:2] = 6  # two faces lost on the crops
    on_originals[7] = 3  # one lost on the originals only
    scores = paired_accuracy(on_crops, on_originals, labels)
    assert scores["accuracy_crops"] == pytest.approx(75.0) and scores["accuracy_originals"] == pytest.approx(87.5)
    assert scores["gap"] == pytest.approx(-12.5) and scores["agreement"] == pytest.approx(62.5)
    difference = np.array([-1, -1, 0, 0, 0, 0, 0, 1], float)
    assert scores["gap_se"] == pytest.approx(100 * difference.std(ddof=1) / math.sqrt(8))


def test_binned_scores_each_range_of_faces_on_its_own() -> None:
    labels = np.zeros(6, int)
    on_originals = np.zeros(6, int)
    on_crops = np.array([1, 1, 0, 0, 0, 0])  # the two smallest faces lost on the crops
    sides = np.array([70.0, 90.0, 110.0, 120.0, 150.0, 199.0])
    scores = binned(on_crops, on_originals, labels, sides, (64, 100, 140, 200))
    assert [scores[key]["faces"] for key in ("64-100", "100-140", "140-200")] == [2, 2, 2]
    assert scores["64-100"]["gap"] == pytest.approx(-100.0) and scores["100-140"]["gap"] == pytest.approx(0.0)
    assert scores["140-200"]["accuracy_crops"] == pytest.approx(100.0)


def test_variants_add_aligned_rows_only_for_detectors_with_landmarks() -> None:
    framing = Framing(1.2, 1.2, 0.0, -0.1)
    assert [row[0] for row in variants("haar", framing)] == ["box as found", "framed"]
    landmarks = variants("blazeface_short", framing)
    assert landmarks[-1] == ("aligned + framed", framing, True)
    assert [row[0] for row in landmarks if row[2]] == ["aligned", "aligned + framed"]
