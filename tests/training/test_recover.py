"""Recovering a trainable run from the committed ONNX model: same function in both BatchNorm modes."""

from __future__ import annotations

import json
from pathlib import Path

import keras
import numpy as np
import pytest

from service.preprocessing import PreprocessConfig, to_model_input
from training.evaluate import OnnxClassifier
from training.export import run_record
from training.prepare import load_prepared
from training.recover import recover
from training.train import load_classifier

COMMITTED = Path(__file__).resolve().parents[2] / "model_store" / "fer_cnn" / "1.1.0"


@pytest.fixture(scope="module")
def recovered(prepared_sample: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("runs") / "fer_cnn_recovered"
    return out, recover(COMMITTED, out, str(prepared_sample), bn_images=100_000)


def sample_faces(prepared_sample: Path, split: str) -> np.ndarray:
    splits, meta = load_prepared(str(prepared_sample))
    return to_model_input(splits[split][0], PreprocessConfig.from_dict(meta["preprocessing"]))


def test_recover_writes_a_run_that_predicts_like_the_onnx_model(recovered, prepared_sample: Path) -> None:
    out, record = recovered
    assert record["parity_max_abs"] < 1e-4 and record["version"] == "1.1.0"
    classifier = load_classifier(out, "last.weights.h5")
    faces = sample_faces(prepared_sample, "PublicTest")
    onnx_probs = OnnxClassifier(COMMITTED).session.run(None, {"face": faces})[0]
    mirrored = classifier.predict(faces[:, :, ::-1], verbose=0)
    keras_probs = (classifier.predict(faces, verbose=0) + mirrored) / 2  # 1.1.0 has flip TTA in its graph
    np.testing.assert_allclose(keras_probs, onnx_probs, atol=1e-4)
    assert json.loads((out / "config.json").read_text())["init_weights"] == ""


def test_recover_unfolds_batchnorm_so_training_mode_matches_on_its_faces(recovered, prepared_sample: Path) -> None:
    out, _ = recovered
    classifier = load_classifier(out, "last.weights.h5")
    for layer in classifier.layers:
        if isinstance(layer, keras.layers.Dropout):
            layer.rate = 0.0  # the comparison is about BatchNorm alone
    faces = sample_faces(prepared_sample, "Training")  # all of them: the faces the statistics came from
    inference = np.asarray(classifier(faces, training=False))
    training = np.asarray(classifier(faces, training=True))
    np.testing.assert_allclose(training, inference, atol=2e-3)


def test_run_record_names_the_model_a_run_was_recovered_from(recovered) -> None:
    out, record = recovered
    described = run_record(out)["recovered_from"]
    assert described["sha256"] == record["sha256"] and described["training"]["run"] == "runs/fer_cnn_v1_ft"
