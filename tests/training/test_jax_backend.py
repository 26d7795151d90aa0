"""Training on Keras' JAX backend without TensorFlow, as on the GPU machine, and its weights exported here.

The run trains in a subprocess (a process's Keras backend is fixed at import) in which importing
TensorFlow fails. The affine augmentations (rotation, zoom, translation) are off: on two CPU cores
each adds about 13 s of XLA compilation, and they run the same on both backends.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from training.train import load_classifier

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
FACES = np.random.default_rng(0).random((16, 48, 48, 1), dtype=np.float32)

# Runs training.train as the GPU machine would: no TensorFlow to import. It then saves the trained
# classifier's probabilities for FACES, which this process compares with TensorFlow's.
WITHOUT_TENSORFLOW = """
import sys
import numpy as np


class NoTensorFlow:
    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] == "tensorflow":
            raise ModuleNotFoundError(f"No module named {name!r}")


sys.meta_path.insert(0, NoTensorFlow())
from training.train import load_classifier, main

faces, run_dir = sys.argv[1], sys.argv[2]
main(sys.argv[3:])
np.save(f"{run_dir}/jax_probs.npy", load_classifier(run_dir).predict(np.load(faces), verbose=0))
"""


def train_on_jax(root: Path, prepared_sample: Path, *extra_args: str) -> Path:
    """One epoch of the sample on JAX in a subprocess without TensorFlow; the run's root folder."""
    np.save(root / "faces.npy", FACES)
    train_args = ["--name", "jax", "--data", str(prepared_sample), "--runs_dir", str(root / "runs")]
    train_args += ["--checkpoint_dir", str(root / "checkpoints"), "--widths", "8,16", "--dense_units", "16"]
    train_args += ["--epochs", "1", "--batch_size", "70", "--mixed_precision", "false"]
    train_args += ["--rotation_deg", "0", "--zoom", "0", "--translate", "0", *extra_args]
    command = [sys.executable, "-c", WITHOUT_TENSORFLOW, str(root / "faces.npy"), str(root / "runs" / "jax")]
    env = os.environ | {"KERAS_BACKEND": "jax", "PYTHONPATH": str(REPO)}
    done = subprocess.run([*command, *train_args], cwd=REPO, env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return root


@pytest.fixture(scope="module")
def jax_run(prepared_sample, tmp_path_factory) -> Path:
    return train_on_jax(tmp_path_factory.mktemp("jax"), prepared_sample)


def test_a_jax_run_writes_its_checkpoint_and_records_its_backend(jax_run):
    run, checkpoint = jax_run / "runs" / "jax", jax_run / "checkpoints" / "jax"
    for name in ("checkpoint.npz", "state.json", "progress.csv"):
        assert (checkpoint / name).is_file(), name
    assert json.loads((checkpoint / "state.json").read_text())["epoch"] == 1
    with np.load(checkpoint / "checkpoint.npz") as arrays:  # generator states: augmentation and dropout
        assert any(name.startswith("seed_") for name in arrays.files)
    timing = json.loads((run / "timing.json").read_text())
    assert timing["backend"] == "jax" and timing["jax"] and "tensorflow" not in timing
    assert "val_acc_happy" in (run / "history.csv").read_text().splitlines()[0]  # per-class accuracy, no TF
    assert not (run / "tb").exists()  # TensorBoard is TensorFlow's


def test_jax_weights_predict_alike_on_tensorflow(jax_run):
    import keras

    assert keras.backend.backend() == "tensorflow"  # this process: where export runs
    run = jax_run / "runs" / "jax"
    expected = np.load(run / "jax_probs.npy")
    got = load_classifier(run).predict(FACES, verbose=0)
    assert np.abs(got - expected).max() < 1e-5
    assert np.abs(got - got.mean(axis=0)).max() > 1e-4  # faces told apart: not a constant output


def test_a_paired_run_trains_on_jax_and_its_weights_predict_alike_on_tensorflow(
    prepared_sample, sample_crops, tmp_path
):
    run = train_on_jax(tmp_path, prepared_sample, "--paired_crops", str(sample_crops), "--consistency", "1.0") / "runs"
    assert json.loads((run / "jax" / "config.json").read_text())["paired_crops"] == str(sample_crops)
    got = load_classifier(run / "jax").predict(FACES, verbose=0)
    assert np.abs(got - np.load(run / "jax" / "jax_probs.npy")).max() < 1e-5
