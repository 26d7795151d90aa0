"""training.reparam: a network trained with RepVGG branches folds into the plain network it serves as."""

from __future__ import annotations

from dataclasses import replace

import keras
import numpy as np
import onnx
import pytest

from tests.support.configs import tiny_config
from training import reparam
from training.config import TrainConfig
from training.export import export
from training.model import build_model
from training.reparam import FoldError, fold_branches
from training.train import train


def branched(seed: int = 0) -> tuple[keras.Model, TrainConfig]:
    """A small branched network whose BatchNorms hold statistics a trained one could have."""
    cfg = TrainConfig(widths=(8, 16), dense_units=16, rep_branches=True, mixed_precision=False)
    model = build_model(cfg)
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        if "_bn" in layer.name:
            n = layer.get_weights()[0].shape[0]
            gamma, beta = rng.uniform(0.5, 1.5, n), rng.normal(0, 0.3, n)
            layer.set_weights([gamma, beta, rng.normal(0, 0.3, n), rng.uniform(0.2, 2.0, n)])
    return model, cfg


def test_the_folded_network_computes_what_the_branched_one_does() -> None:
    model, cfg = branched()
    faces = np.random.default_rng(1).random((64, 48, 48, 1), dtype=np.float32)
    plain = fold_branches(model, cfg, faces)
    assert not [layer.name for layer in plain.layers if "_1x1" in layer.name or "_id" in layer.name]
    assert plain.count_params() == build_model(TrainConfig(widths=(8, 16), dense_units=16)).count_params()
    assert plain.count_params() < model.count_params()
    gap = np.abs(model.predict(faces, verbose=0) - plain.predict(faces, verbose=0)).max()
    assert gap < 1e-5
    assert np.abs(model.predict(faces, verbose=0) - 1 / 7).max() > 0.05  # the test compares real outputs


def test_the_identity_branch_exists_only_where_a_convolution_keeps_its_width() -> None:
    model, _ = branched()
    names = {layer.name for layer in model.layers}
    assert {"b0_bn1_id", "b1_bn1_id"} <= names  # 8 -> 8 and 16 -> 16
    assert not {"b0_bn0_id", "b1_bn0_id"} & names  # 1 -> 8 and 8 -> 16


def test_a_fold_that_forgets_a_branch_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    model, cfg = branched()

    def three_by_three_only(model: keras.Model, conv: str, bn: str) -> tuple[np.ndarray, np.ndarray]:
        return reparam.fold_batchnorm(model.get_layer(conv).get_weights()[0], model.get_layer(bn))

    monkeypatch.setattr(reparam, "folded_kernel", three_by_three_only)
    with pytest.raises(FoldError):
        fold_branches(model, cfg, np.random.default_rng(1).random((16, 48, 48, 1), dtype=np.float32))


@pytest.mark.slow
def test_a_branched_run_exports_the_plain_graph(prepared_sample, tmp_path):
    cfg = tiny_config(prepared_sample, tmp_path / "runs", "rep", rep_branches=True, histograms=False)
    train(cfg, verbose=0)
    meta = export(cfg.run_dir, tmp_path / "store" / "rep" / "0.0.1", "rep", "0.0.1", "none", 64)
    assert meta["export"]["parity_max_abs"] < 1e-4
    assert meta["export"]["rep_branches"].startswith("folded")
    graph = onnx.load(str(tmp_path / "store" / "rep" / "0.0.1" / "model.onnx")).graph
    assert [node.op_type for node in graph.node].count("Conv") == 4  # two blocks of two 3x3 convolutions
    assert meta["architecture"]["parameters"] == build_model(replace(cfg, rep_branches=False)).count_params()
