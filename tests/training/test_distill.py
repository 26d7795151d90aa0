"""Distillation on the committed sample: cached teacher outputs -> one student epoch -> export with parity."""

from __future__ import annotations

import json
from pathlib import Path

import keras
import numpy as np
import pytest

from tests.support.configs import tiny_config
from training.distill import DistillationLoss, kd_targets, tempered
from training.export import export
from training.teach import teach
from training.train import train

MODEL_STORE = Path(__file__).resolve().parents[2] / "model_store" / "fer_cnn"
TEACHERS = [MODEL_STORE / "1.1.0", MODEL_STORE / "1.1.0-int8"]


def test_tempered_keeps_probabilities_at_t1_and_softens_them_above() -> None:
    probs = np.array([[0.7, 0.2, 0.1, 0, 0, 0, 0]], np.float32)
    np.testing.assert_allclose(tempered(probs, 1.0)[0, :3], [0.7, 0.2, 0.1], atol=1e-5)
    soft = tempered(probs, 4.0)[0]
    assert soft.sum() == pytest.approx(1.0) and 0.2 < soft[0] < 0.7 and soft[1] > 0.2


def test_distillation_loss_is_the_weighted_sum_of_its_two_terms() -> None:
    hard = np.eye(7, dtype=np.float32)[[3]]
    teacher = np.array([[0.1, 0.0, 0.1, 0.6, 0.1, 0.05, 0.05]], np.float32)
    student = np.array([[0.2, 0.05, 0.05, 0.4, 0.1, 0.1, 0.1]], np.float32)
    t, alpha = 2.0, 0.7
    soft_t, student_t = tempered(teacher, t), tempered(student, t)
    kl = float(np.sum(soft_t * (np.log(np.clip(soft_t, 1e-7, 1)) - np.log(student_t))))
    expected = (1 - alpha) * -np.log(0.4) + alpha * t * t * kl
    loss = DistillationLoss(t, alpha)(kd_targets(hard, teacher, t), student)
    assert float(loss) == pytest.approx(expected, rel=1e-4)


@pytest.fixture(scope="module")
def teacher_file(prepared_sample: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("teacher") / "teacher.npz"
    return out, teach(TEACHERS, str(prepared_sample), out)


def test_teach_caches_the_mean_of_the_members(teacher_file: tuple[Path, dict], prepared_sample: Path) -> None:
    from training.evaluate import OnnxClassifier, load_raw_split

    path, record = teacher_file
    faces, labels = load_raw_split(str(prepared_sample), "PublicTest")
    each = [OnnxClassifier(d).predict_proba(faces) for d in TEACHERS]
    with np.load(path) as cached:
        np.testing.assert_allclose(cached["PublicTest_probs"], np.mean(each, axis=0), atol=1e-6)
        assert set(cached.files) == {"Training_probs", "PublicTest_probs"}  # never PrivateTest
    assert [m["version"] for m in record["members"]] == ["1.1.0", "1.1.0-int8"]
    accuracy = float((np.mean(each, axis=0).argmax(1) == labels).mean())
    assert record["publictest_accuracy"] == pytest.approx(accuracy)


@pytest.mark.slow
def test_distill_one_epoch_then_export_records_student_and_teacher(
    teacher_file: tuple[Path, dict], prepared_sample: Path, tmp_path: Path
) -> None:
    teacher, record = teacher_file
    cfg = tiny_config(
        prepared_sample, tmp_path / "runs", "student", teacher=str(teacher)
    )  # the student's VGG, narrower
    train(cfg, verbose=0)
    history = (cfg.run_dir / "history.csv").read_text()
    assert "val_accuracy" in history.splitlines()[0]
    meta = export(cfg.run_dir, tmp_path / "store" / "fer_student" / "0.0.1", "fer_student", "0.0.1", "none", 64)
    assert meta["export"]["parity_max_abs"] < 1e-4
    assert meta["architecture"]["arch"] == "vgg" and meta["architecture"]["parameters"] > 0
    # MACs: 48x48x9 x (1x8 + 8x8) + 24x24x9 x (8x16 + 16x16) + dense 16x16 + 16x7 = 3,484,016; FLOPs = 2 x MACs.
    assert meta["architecture"]["mflop_per_face"] == pytest.approx(6.968, abs=1e-3)
    assert meta["teacher"]["members"] == record["members"] and meta["teacher"]["temperature"] == 4.0
    assert "PublicTest" in meta["selection_rule"] and meta["metrics"] == {}
    saved = json.loads((tmp_path / "store" / "fer_student" / "0.0.1" / "model.json").read_text())
    assert saved["teacher"]["publictest_accuracy"] == record["publictest_accuracy"]
    assert isinstance(keras.saving.get_registered_object("fer>DistillationLoss"), type)
