"""The crop refiner's training data, targets, model and export (training.refiner)."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pytest

from service.cropping import CropFrame, warp_crop
from service.refining import CropRefiner
from training.refiner import RefinerConfig, correction_to_upright, disc_mask, main, perturbed_crops


@pytest.mark.parametrize("angle", [-28.0, -5.0, 0.0, 17.0])
def test_correction_to_upright_puts_a_frame_on_the_face(angle: float) -> None:
    frame = CropFrame(110.0, 95.0, 80.0, 80.0, angle)
    upright = frame.corrected(*correction_to_upright(frame, 100.0, 100.0, 64.0))
    assert (upright.angle, upright.centre_x, upright.centre_y) == pytest.approx((0.0, 100.0, 100.0), abs=1e-9)
    assert (upright.width, upright.height) == pytest.approx((64.0, 64.0))


def test_corrected_without_scale_keeps_the_sides() -> None:
    frame = CropFrame(110.0, 95.0, 80.0, 84.0, 12.0)
    turn, u, v, _ = correction_to_upright(frame, 100.0, 100.0, 50.0)
    moved = frame.corrected(turn, u, v)  # a 3-output refiner (1.1.0) moves and turns only
    assert (moved.width, moved.height) == (80.0, 84.0) and moved.centre_x == pytest.approx(100.0)


def test_corrected_crop_is_the_upright_crop() -> None:
    image = np.random.default_rng(3).integers(0, 256, (200, 200), dtype=np.uint8)
    exact = warp_crop(image, CropFrame(100.0, 100.0, 60.0, 60.0))
    off = CropFrame(108.0, 93.0, 60.0, 60.0, 21.0)
    back = warp_crop(image, off.corrected(*correction_to_upright(off, 100.0, 100.0, 60.0)))
    np.testing.assert_allclose(back.astype(float), exact.astype(float), atol=1.0)


def test_perturbed_crops_targets_undo_the_perturbation() -> None:
    face = np.zeros((48, 48), np.uint8)
    face[10:20, 8:40] = 255  # a bright bar across the upper face
    config = RefinerConfig(views_per_face=32, predict_scale=True, max_log_scale=0.5)
    crops, targets = perturbed_crops(face[None], config, np.random.default_rng(0))
    assert crops.shape == (32, 48, 48) and crops.dtype == np.uint8
    assert targets.shape == (32, 4)
    assert np.abs(targets[:, 0]).max() <= 30.0 and np.abs(targets[:, 1:3]).max() < 0.4
    assert np.std(targets[:, 0]) > 8.0  # the turns are spread, not all near 0
    assert np.abs(targets[:, 3]).max() <= 0.5 + 1e-6 and np.std(targets[:, 3]) > 0.1  # and the sizes


def test_perturbed_crops_without_scale_have_three_targets() -> None:
    face = np.zeros((48, 48), np.uint8)
    _, targets = perturbed_crops(face[None], RefinerConfig(views_per_face=4), np.random.default_rng(0))
    assert targets.shape == (4, 3)  # the shipped 1.1.0's recipe: turn and shift only


def test_disc_mask_hides_the_corners() -> None:
    mask = disc_mask(48, 0.38)[..., 0]
    assert mask[24, 24] == 1.0 and mask[0, 0] == 0.0 and mask[24, 2] == 0.0
    assert 0.4 < mask.mean() < 0.5  # pi * 0.38^2 = 0.45 of the square


def test_refiner_trains_exports_and_loads(prepared_sample: Path, tmp_path: Path) -> None:
    args = ["--data", str(prepared_sample), "--store", str(tmp_path), "--epochs", "1", "--version", "0.0.1"]
    main([*args, "--predict-scale"])
    card = json.loads((tmp_path / "face_refiner" / "0.0.1" / "model.json").read_text())
    assert card["onnx"]["parity_max_abs"] < 1e-3 and card["output"]["output_scale"] == [30.0, 0.1, 0.1, 0.2]
    assert card["metrics"]["PublicTest_perturbed"]["log_scale_abs_uncorrected_median"] > 0.05
    assert card["metrics"]["PublicTest_perturbed"]["turn_abs_deg_uncorrected_median"] > 5.0
    refiner = CropRefiner(tmp_path / "face_refiner" / "0.0.1", passes=2)
    frames = refiner.refine(np.full((120, 120), 128, np.uint8), [CropFrame(60.0, 60.0, 50.0, 50.0, 5.0)])
    assert len(frames) == 1 and frames[0].width == pytest.approx(frames[0].height)
    assert 50.0 * np.exp(-1.0) < frames[0].width < 50.0 * np.exp(1.0)  # a size correction within 2 passes' bounds


def test_default_config_is_the_shipped_refiners_recipe() -> None:
    """``make refiner`` (4 views, 12 epochs) rebuilds 1.1.0: every knob its card records is today's default."""
    card = Path(__file__).resolve().parents[2] / "model_store" / "face_refiner" / "1.1.0" / "model.json"
    shipped = json.loads(card.read_text())
    recorded = {key: value for key, value in shipped["training"].items() if key != "seconds"}
    ours = asdict(RefinerConfig(views_per_face=4, epochs=12))
    assert {key: list(ours[key]) if isinstance(ours[key], tuple) else ours[key] for key in recorded} == recorded
    assert not ours["predict_scale"] and ours["max_log_scale"] == 0.4  # 1.1.0 predates both knobs
