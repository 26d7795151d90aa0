"""Detector crops of planted Training faces as extra training images (training.detector_crops)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from service.model_store import sha256_of
from training.config import TrainConfig
from training.detector_crops import detector_crops, load_detector
from training.export import run_record
from training.prepare import load_prepared
from training.train import load_arrays


@pytest.fixture(scope="module")
def crops(prepared_sample: Path) -> dict:
    return detector_crops(prepared_sample, faces=0, detectors=["haar", "blazeface_short"], workers=1, chunk=40)


def correlation(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.corrcoef(a.astype(float).ravel(), b.astype(float).ravel())[0, 1])


def test_detector_crops_are_the_planted_faces_with_their_labels(crops: dict, prepared_sample: Path) -> None:
    splits, _ = load_prepared(prepared_sample)
    originals, labels = splits["Training"]
    assert crops["x"].shape[1:] == (48, 48) and crops["x"].dtype == np.uint8
    assert set(np.unique(crops["detector"])) == {0, 1}  # both detectors found some faces
    np.testing.assert_array_equal(crops["y"], labels[crops["source"]])
    # Each crop looks like its own source face more than like the faces of other crops.
    own = np.median([correlation(x, originals[s]) for x, s in zip(crops["x"], crops["source"], strict=True)])
    other = np.median(
        [correlation(x, originals[s]) for x, s in zip(crops["x"], np.roll(crops["source"], 7), strict=True)]
    )
    assert own > other + 0.15


def test_detector_crops_are_seeded(crops: dict, prepared_sample: Path) -> None:
    again = detector_crops(prepared_sample, faces=0, detectors=["haar", "blazeface_short"], workers=1, chunk=40)
    np.testing.assert_array_equal(again["x"], crops["x"])


def test_load_detector_names_an_unknown_detector() -> None:
    with pytest.raises(ValueError, match="unknown detector 'yunet'"):
        load_detector("yunet", None)  # type: ignore[arg-type]


def test_load_arrays_appends_extra_training_images(prepared_sample: Path, crops: dict, tmp_path: Path) -> None:
    extra = tmp_path / "extra.npz"
    np.savez(extra, x=crops["x"], y=crops["y"])
    plain = load_arrays(TrainConfig(data=str(prepared_sample)))
    more = load_arrays(TrainConfig(data=str(prepared_sample), extra_train=str(extra)))
    assert len(more[0]) == len(plain[0]) + len(crops["y"])
    np.testing.assert_array_equal(more[1][len(plain[1]) :], crops["y"])
    np.testing.assert_allclose(more[0][len(plain[0]) :, :, :, 0], crops["x"] / 255.0, atol=1e-6)
    np.testing.assert_array_equal(more[2][len(plain[1]) :].argmax(1), crops["y"])
    np.testing.assert_array_equal(more[3], plain[3])  # PublicTest untouched


def test_load_arrays_refuses_extra_images_with_a_teacher(prepared_sample: Path, crops: dict, tmp_path: Path) -> None:
    extra = tmp_path / "extra.npz"
    np.savez(extra, x=crops["x"], y=crops["y"])
    with pytest.raises(ValueError, match="without --teacher"):
        load_arrays(TrainConfig(data=str(prepared_sample), extra_train=str(extra), teacher="teacher.npz"))


def test_run_record_describes_the_extra_training_images(crops: dict, tmp_path: Path) -> None:
    extra = tmp_path / "extra.npz"
    np.savez(extra, x=crops["x"], y=crops["y"], meta=json.dumps({"planted_faces": 7, "seed": 21}))
    run = tmp_path / "run"
    TrainConfig(name="run", runs_dir=str(tmp_path), extra_train=str(extra)).save(run / "config.json")
    described = run_record(run)["extra_train"]
    assert described["planted_faces"] == 7 and described["images"] == len(crops["y"])
    assert described["sha256"] == sha256_of(extra)
