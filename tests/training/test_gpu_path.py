"""The GPU machine's whole path on this CPU: prepare .gpu/, run the device command on a two-run plan
(a stage and a distilled second stage from it), unpack what came back, export the second stage."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from training.export import export
from training.gpu import device, prepare, unpack
from training.gpu.pack import FINISHED, PART_BYTES
from training.prepare import load_prepared

pytestmark = pytest.mark.slow

# One epoch of a tiny network, without the affine augmentations (seconds of XLA compilation each).
TINY = ["--widths", "8,16", "--dense_units", "16", "--epochs", "1", "--batch_size", "70", "--mixed_precision", "false"]
TINY += ["--rotation_deg", "0", "--zoom", "0", "--translate", "0"]
STAGE2 = ["--init_weights", "runs/stage1/last.weights.h5", "--teacher", "data/processed/teacher.npz", *TINY]
# A JSON list of strings is a TOML array.
PLAN = f"""budget_s = 400
[[runs]]
name = "stage1"
args = {json.dumps(TINY)}
[[runs]]
name = "stage2"
args = {json.dumps(STAGE2)}
"""


def checkout_with_data(root: Path, prepared_sample: Path) -> Path:
    """A folder laid out like the repository here: the data, a teacher's probabilities, a plan."""
    data = root / "data" / "processed"
    data.mkdir(parents=True)
    shutil.copy(prepared_sample, data / "fer2013.npz")
    rng = np.random.default_rng(0)
    probs = {f"{split}_probs": rng.dirichlet(np.ones(7), 70).astype(np.float32) for split in ("Training", "PublicTest")}
    np.savez(data / "teacher.npz", **probs)
    (data / "teacher.json").write_text(json.dumps({"members": [], "publictest_accuracy": 0.5}))
    (root / "plan.toml").write_text(PLAN)
    return root


@pytest.fixture(scope="module")
def session(prepared_sample, tmp_path_factory) -> dict:
    """Here: prepare; there (a folder standing in for the machine): the device command; here: unpack."""
    root = tmp_path_factory.mktemp("gpu")
    checkout = checkout_with_data(root / "checkout", prepared_sample)
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(checkout)
        prepare.main(["--plan", "plan.toml", "--out", str(root / "gpu"), "--no-wheels"])
        device.main(["--gpu-dir", str(root / "gpu"), "--work", str(root / "work"), "--out", str(root / "out")])
        unpack.main(["--source", str(root / "out")])
        meta = export(Path("runs/stage2"), root / "store", "fer_lite", "0.0.1", tta="none", bn_images=64)
    return {"root": root, "checkout": checkout, "meta": meta}


def test_the_device_gets_training_and_publictest_only(session, prepared_sample):
    splits, meta = load_prepared(session["root"] / "work" / "data" / "processed" / "fer2013.npz")
    here, _ = load_prepared(prepared_sample)
    for split in ("Training", "PublicTest"):
        assert np.array_equal(splits[split][0], here[split][0]) and np.array_equal(splits[split][1], here[split][1])
    assert len(splits["PrivateTest"][0]) == 0 and meta["preprocessing"]["clahe_clip_limit"] == 2.0


def test_what_comes_back_respects_the_device_limits(session):
    out = session["root"] / "out"
    files = list(out.iterdir())
    assert len(files) <= 8 and all(path.stat().st_size <= PART_BYTES for path in files)
    manifest = json.loads((out / "manifest.json").read_text())
    assert [run["status"] for run in manifest["runs"]] == [FINISHED, FINISHED]
    assert "runs/stage1/best.weights.h5" not in manifest["brought"]  # stage 2 started from it and finished
    assert "runs/stage2/best.weights.h5" in manifest["brought"] and not manifest["left_behind"]


def test_unpacked_runs_export_as_if_trained_here(session):
    checkout, meta = session["checkout"], session["meta"]
    for name in ("config.json", "best.weights.h5", "timing.json", "checkpoint/progress.csv"):
        assert (checkout / "runs" / "stage2" / name).is_file(), name
    assert meta["training"]["timing"]["backend"] == "jax"
    assert meta["training"]["initialised_from"]["config"]["name"] == "stage1"
    assert meta["teacher"]["publictest_accuracy"] == 0.5 and meta["export"]["parity_max_abs"] < 1e-4


def test_unpack_refuses_to_overwrite_runs(session):
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(session["checkout"])
        with pytest.raises(SystemExit, match="not overwritten"):
            unpack.main(["--source", str(session["root"] / "out")])
