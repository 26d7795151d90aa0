"""The student's teacher views: the views file on the sample, the per-epoch view draw, the batches, and a
student trained on K=2 views that exports like any run."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import keras
import numpy as np
import pytest

from service.preprocessing import PreprocessConfig, to_model_input
from tests.support.configs import tiny_config
from tests.support.npz import npz_arrays
from training.config import TrainConfig
from training.distill import kd_targets
from training.evaluate import OnnxClassifier, load_raw_split
from training.export import export
from training.model import build_model, build_training_model
from training.teach import main, teach_views
from training.train import train
from training.views import TeacherViews, ViewBatches, check_views, load_views

MODEL_STORE = Path(__file__).resolve().parents[2] / "model_store"
TEACHERS = [MODEL_STORE / "fer_cnn" / "1.1.0", MODEL_STORE / "fer_cnn" / "1.1.0-int8"]  # the views_teacher fixture's
STUDENT_AUGMENT = TrainConfig(zoom=0.2)  # make distill's student: zoom 0.2, the rest as TrainConfig's


@pytest.fixture(autouse=True)
def float32_policy():
    keras.mixed_precision.set_global_policy("float32")


def test_the_views_file_holds_k_augmented_views_and_the_teacher_on_each(views_teacher, prepared_sample):
    path, record = views_teacher
    arrays = npz_arrays(path)
    clean = npz_arrays(prepared_sample)["Training_x"]
    views, probs = arrays["Training_views"], arrays["Training_view_probs"]
    assert views.shape == (2, 70, 48, 48) and views.dtype == np.uint8 and probs.shape == (2, 70, 7)
    gaps = [np.abs(views[k].astype(int) - clean).mean(axis=(1, 2)) for k in (0, 1)]
    assert min(gaps[0].min(), gaps[1].min()) > 10  # every view moved (gray levels a pixel, of 255)
    assert np.abs(views[0].astype(int) - views[1]).mean(axis=(1, 2)).min() > 10  # and the two differ
    members = [OnnxClassifier(d) for d in TEACHERS]
    for k in (0, 1):
        x = to_model_input(views[k], PreprocessConfig())
        np.testing.assert_allclose(probs[k], np.mean([m.predict_input(x) for m in members], axis=0), atol=1e-6)
    raw, _ = load_raw_split(str(prepared_sample), "Training")
    np.testing.assert_allclose(arrays["Training_probs"], np.mean([m.predict_proba(raw) for m in members], 0), atol=1e-6)
    made = record["views"]
    assert made["count"] == 2 and made["seed"] == 3 and made["faces"] == 70
    assert made["augmentation"] == {"flip": True, "rotation_deg": 10.0, "translate": 0.1, "zoom": 0.2, "erase": 0.25}
    assert made["flip_invariant"] and made["flip_mean_abs_gap"] < 0.005  # both members average their flip
    assert made["teacher_mflop_per_face_view"] == pytest.approx(2 * 1874.402, abs=0.01)
    assert made["seconds_per_1000_face_views"] > 0


def test_the_same_command_makes_the_same_file(views_teacher, prepared_sample, tmp_path):
    path, record = views_teacher
    again = tmp_path / "teacher.npz"
    where = ["--models", ",".join(str(d) for d in TEACHERS), "--data", str(prepared_sample), "--out", str(again)]
    main([*where, "--views", "2", "--view_seed", "3", "--zoom", "0.2"])
    first, second = npz_arrays(path), npz_arrays(again)
    assert first.keys() == second.keys() and all(np.array_equal(first[k], second[k]) for k in first)
    rerun = json.loads(again.with_suffix(".json").read_text())

    def timeless(described: dict) -> dict:
        views = {key: value for key, value in described["views"].items() if key != "seconds_per_1000_face_views"}
        return described | {"views": views}

    assert timeless(rerun) == timeless(record)


def test_the_views_depend_on_the_seed_not_on_the_teacher(views_teacher, prepared_sample):
    path, _ = views_teacher
    int8 = [OnnxClassifier(TEACHERS[1])]
    same, _ = teach_views(int8, str(prepared_sample), 2, 3, STUDENT_AUGMENT)
    other, _ = teach_views(int8, str(prepared_sample), 2, 4, STUDENT_AUGMENT)
    np.testing.assert_array_equal(same["Training_views"], npz_arrays(path)["Training_views"])
    assert np.abs(other["Training_views"].astype(int) - same["Training_views"]).mean() > 10


def test_a_teacher_without_flip_tta_is_recorded_as_changing_with_the_flip(prepared_sample):
    lite = [OnnxClassifier(MODEL_STORE / "fer_lite" / "1.0.0")]  # exported with tta "none"
    _, made = teach_views(lite, str(prepared_sample), 1, 0, STUDENT_AUGMENT)
    assert not made["flip_invariant"] and made["flip_mean_abs_gap"] > 0.02


def hand_views(count: int = 3, faces: int = 40) -> TeacherViews:
    """View k of face i is a flat image of gray 10k + i % 10; its target's first column says k."""
    gray = 10 * np.arange(count)[:, None] + np.arange(faces)[None, :] % 10
    images = np.broadcast_to(gray[:, :, None, None], (count, faces, 48, 48)).astype(np.uint8)
    targets = np.zeros((count, faces, 14), np.float32)
    targets[:, :, 0] = np.arange(count)[:, None]
    return TeacherViews(images, targets, PreprocessConfig(scale=1.0))


def test_each_face_goes_through_its_views_in_an_order_drawn_by_seed_and_epoch_round():
    views = hand_views()
    draws = np.stack([views.draw(seed=7, epoch=epoch) for epoch in range(9)])  # three rounds of K=3 epochs
    for start in (0, 3, 6):
        assert np.all(np.sort(draws[start : start + 3], axis=0) == np.arange(3)[:, None])  # each view once a round
    np.testing.assert_array_equal(views.draw(seed=7, epoch=4), draws[4])  # a resumed run draws the same
    assert np.any(draws[0] != draws[1]) and np.any(draws[0:3] != draws[3:6])  # faces differ; rounds reorder
    assert np.any(np.stack([views.draw(seed=8, epoch=e) for e in range(3)]) != draws[0:3])  # and by seed


def test_view_batches_serve_each_faces_view_of_the_epoch_and_its_target():
    views = hand_views()
    weights = np.arange(40, dtype=np.float32)
    arrays = (np.zeros((40, 48, 48, 1), np.float32), np.zeros((40, 14), np.float32), weights)
    straight = ViewBatches(arrays, views, batch_size=16, seed=5)
    straight.set_epoch(1)
    straight.set_epoch(2)
    resumed = ViewBatches(arrays, views, batch_size=16, seed=5)
    resumed.set_epoch(2)
    chosen = views.draw(seed=5, epoch=2)
    for index in range(len(straight)):
        faces, targets, batch_weights = straight[index]
        rows = batch_weights.astype(int)  # the weights name the faces
        np.testing.assert_array_equal(faces[:, 0, 0, 0], 10 * chosen[rows] + rows % 10)
        np.testing.assert_array_equal(targets[:, 0], chosen[rows])
        for a, b in zip(straight[index], resumed[index], strict=True):
            np.testing.assert_array_equal(a, b)
    assert len(straight) == 3 and straight[2][0].shape == (8, 48, 48, 1)


def views_record(**changes) -> dict:
    made = {"augmentation": {"flip": True, "rotation_deg": 10.0, "translate": 0.1, "zoom": 0.2, "erase": 0.25}}
    return {"views": made | {"flip_invariant": True, "flip_mean_abs_gap": 0.001} | changes}


def test_a_run_on_views_must_say_their_augmentation_and_flip_only_an_invariant_teacher():
    cfg = replace(STUDENT_AUGMENT, teacher="t.npz", teacher_views=True)
    check_views(cfg, views_record())
    with pytest.raises(ValueError, match="holds no views"):
        check_views(cfg, {"members": []})
    with pytest.raises(ValueError, match="zoom 0.2 \\(this run: 0.1\\)"):
        check_views(replace(cfg, zoom=0.1), views_record())
    no_flip_tta = views_record(flip_invariant=False, flip_mean_abs_gap=0.03)
    with pytest.raises(ValueError, match="--flip false"):
        check_views(cfg, no_flip_tta)
    check_views(replace(cfg, flip=False), no_flip_tta)


def test_load_views_keeps_the_runs_rows_with_their_tempered_targets(tmp_path):
    labels = np.array([0, 3, 6, 1])
    faces = np.arange(2 * 4, dtype=np.uint8).reshape(2, 4, 1, 1) * np.ones((1, 1, 48, 48), np.uint8)
    probs = np.random.default_rng(0).dirichlet(np.ones(7), size=(2, 4)).astype(np.float32)
    path = tmp_path / "teacher.npz"
    np.savez(path, Training_views=faces, Training_view_probs=probs)
    path.with_suffix(".json").write_text(json.dumps(views_record()))
    cfg = replace(STUDENT_AUGMENT, teacher=str(path), teacher_views=True, kd_temperature=2.0)
    views = load_views(cfg, labels, np.array([1, 3]), PreprocessConfig())
    np.testing.assert_array_equal(views.faces[:, :, 0, 0], [[1, 3], [5, 7]])
    expected = kd_targets(np.eye(7, dtype=np.float32)[[3, 1]], probs[1, [1, 3]], 2.0)
    np.testing.assert_allclose(views.targets[1], expected, atol=1e-6)
    with pytest.raises(ValueError, match="not of this run's Training faces"):
        load_views(cfg, np.zeros(5, int), np.arange(5), PreprocessConfig())  # another dataset's views


def test_a_run_on_views_adds_only_the_flip():
    cfg = replace(STUDENT_AUGMENT, widths=(8,), dense_units=0, block_dropout=0.0, head_dropout=0.0)
    faces = np.random.default_rng(2).random((32, 48, 48, 1), dtype=np.float32)
    augment = build_training_model(build_model(cfg), replace(cfg, teacher_views=True)).get_layer("augment")
    seen = keras.ops.convert_to_numpy(augment(faces, training=True))
    same, mirrored = (np.abs(seen - f).max(axis=(1, 2, 3)) < 1e-6 for f in (faces, faces[:, :, ::-1]))
    assert np.all(same | mirrored) and same.any() and mirrored.any()
    full = build_training_model(build_model(cfg), cfg).get_layer("augment")
    changed = keras.ops.convert_to_numpy(full(faces, training=True))
    assert np.all(np.abs(changed - faces).max(axis=(1, 2, 3)) > 0.1)  # the full augmentation does more


@pytest.mark.slow
def test_a_student_on_two_views_trains_and_exports(views_teacher, prepared_sample, tmp_path):
    teacher, record = views_teacher
    on_views = {"teacher": str(teacher), "teacher_views": True, "histograms": False}
    cfg = tiny_config(prepared_sample, tmp_path / "runs", "student_views", zoom=STUDENT_AUGMENT.zoom, **on_views)
    train(cfg, verbose=0)
    assert "val_accuracy" in (cfg.run_dir / "history.csv").read_text().splitlines()[0]
    meta = export(cfg.run_dir, tmp_path / "store" / "fer_student" / "0.0.1", "fer_student", "0.0.1", "none", 64)
    assert meta["export"]["parity_max_abs"] < 1e-4
    assert meta["teacher"]["targets"] == "cached on its views" and meta["teacher"]["views"] == record["views"]
    assert meta["training"]["config"]["teacher_views"] is True
