"""End to end on the committed sample: one-epoch train -> ONNX export with parity -> evaluation."""

from __future__ import annotations

import json

import numpy as np
import pytest

from tests.support.configs import tiny_config
from training.config import TrainConfig
from training.evaluate import OnnxClassifier, evaluate
from training.export import ParityError, check_parity, export
from training.train import train

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def trained_run(prepared_sample, tmp_path_factory):
    runs = tmp_path_factory.mktemp("runs")
    cfg = tiny_config(prepared_sample, runs, "sample", erase=0.3)
    train(cfg, verbose=0)
    return cfg.run_dir


@pytest.fixture(scope="module")
def exported(trained_run, tmp_path_factory):
    out = tmp_path_factory.mktemp("store") / "fer_cnn" / "0.0.1"
    meta = export(trained_run, out, "fer_cnn", "0.0.1", tta="flip", bn_images=64)
    return out, meta


def test_train_one_epoch_writes_run_artifacts(trained_run):
    for name in ("config.json", "best.weights.h5", "last.weights.h5", "history.csv", "curves.png"):
        assert (trained_run / name).is_file(), name
    assert list((trained_run / "tb").rglob("events.out.tfevents.*"))
    assert TrainConfig.load(trained_run / "config.json").epochs == 1


def test_export_writes_self_describing_model(exported):
    out, meta = exported
    saved = json.loads((out / "model.json").read_text())
    assert saved["labels"] == ["angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"]
    assert saved["input"] == {"name": "face", "shape": [None, 48, 48, 1], "dtype": "float32", "layout": "NHWC"}
    assert saved["preprocessing"]["clahe_clip_limit"] == 2.0
    assert saved["export"]["parity_max_abs"] < 1e-4 and saved["export"]["tta"] == "flip"
    assert len(saved["onnx"]["sha256"]) == 64 and saved["training"]["config"]["epochs"] == 1


def test_check_parity_fails_when_models_disagree(exported, trained_run):
    import keras

    out, _ = exported
    other = keras.Sequential([keras.Input((48, 48, 1)), keras.layers.Flatten(), keras.layers.Dense(7, "softmax")])
    faces = np.random.default_rng(0).random((8, 48, 48, 1)).astype(np.float32)
    with pytest.raises(ParityError, match="differ by"):
        check_parity(other, out / "model.onnx", faces, 1e-4)


def test_evaluate_onnx_reports_metrics_and_figures(exported, prepared_sample, tmp_path):
    out, _ = exported
    metrics = evaluate(out, str(prepared_sample), tmp_path)
    assert metrics["PrivateTest"]["n"] == 70 and 0 <= metrics["PrivateTest"]["accuracy"] <= 1
    assert set(metrics["PrivateTest"]["per_class"]) == set(OnnxClassifier(out).labels)
    for name in ("metrics.json", "confusion_matrix.png", "hard_examples.png"):
        assert (tmp_path / "fer_cnn-0.0.1" / name).is_file()
    assert json.loads((out / "model.json").read_text())["metrics"]["PublicTest"]["n"] == 70
