"""CNN builder output shapes and optimizer selection."""

from __future__ import annotations

from dataclasses import replace

import keras
import numpy as np
import pytest

from training.config import TrainConfig, parse_args
from training.model import build_model, build_training_model
from training.train import class_weight_dict, make_optimizer


@pytest.fixture(autouse=True)
def float32_policy():
    keras.mixed_precision.set_global_policy("float32")


def test_build_model_seed_baseline_four_blocks_gives_seven_probabilities():
    cfg = TrainConfig(widths=(64, 128, 256, 512))
    model = build_model(cfg)
    assert model.input_shape == (None, 48, 48, 1)
    assert model.output_shape == (None, 7)
    pooled = [layer for layer in model.layers if layer.name.endswith("_pool")]
    assert [p.output.shape[1] for p in pooled] == [24, 12, 6, 3]
    probs = model.predict(np.zeros((2, 48, 48, 1), np.float32), verbose=0)
    assert probs.shape == (2, 7) and np.allclose(probs.sum(1), 1, atol=1e-5)


def test_build_model_flatten_head_and_block_count_follow_config():
    model = build_model(TrainConfig(widths=(8, 16), convs_per_block=1, head="flatten", dense_units=32))
    assert model.get_layer("flatten").output.shape[1] == 12 * 12 * 16
    assert len([layer for layer in model.layers if isinstance(layer, keras.layers.Conv2D)]) == 2


def test_residual_blocks_carry_the_face_past_their_convolutions():
    cfg = TrainConfig(widths=(8, 16), residual=True, dense_units=0, head_dropout=0, block_dropout=0)
    residual, plain = build_model(cfg), build_model(replace(cfg, residual=False))
    # the only new weights: each block's 1x1 projection and its BatchNorm (4 numbers a channel)
    assert residual.count_params() - plain.count_params() == (1 * 8 + 8 * 16) + 4 * (8 + 16)
    for model in (residual, plain):  # with every 3x3 kernel zeroed only a shortcut can pass the face on
        for layer in model.layers:
            if "_conv" in layer.name:
                layer.kernel.assign(np.zeros(layer.kernel.shape, np.float32))
    faces = np.stack([np.zeros((48, 48, 1), np.float32), np.ones((48, 48, 1), np.float32)])  # dark and light
    plain_probs, residual_probs = plain.predict(faces, verbose=0), residual.predict(faces, verbose=0)
    assert np.allclose(plain_probs[0], plain_probs[1], atol=1e-6)
    assert np.abs(residual_probs[0] - residual_probs[1]).max() > 1e-3


def test_build_model_unknown_head_is_rejected():
    with pytest.raises(ValueError, match="unknown head"):
        build_model(TrainConfig(widths=(8,), head="attention"))


def test_build_training_model_augments_only_in_training():
    cfg = TrainConfig(widths=(8,), convs_per_block=1, dense_units=0)
    classifier = build_model(cfg)
    model = build_training_model(classifier, cfg)
    x = np.random.default_rng(0).random((4, 48, 48, 1)).astype(np.float32)
    assert np.allclose(model(x, training=False), classifier(x, training=False), atol=1e-6)


@pytest.mark.parametrize(("name", "cls"), [("adam", keras.optimizers.Adam), ("sgd", keras.optimizers.SGD)])
def test_make_optimizer_selects_adam_or_sgd(name, cls):
    assert isinstance(make_optimizer(TrainConfig(optimizer=name), steps_per_epoch=10), cls)


def test_class_weight_dict_balanced_upweights_rare_class():
    weights = class_weight_dict(np.array([0] * 90 + [1] * 10), "balanced")
    assert weights[1] > weights[0] and weights[1] == pytest.approx(100 / (7 * 10))


def test_parse_args_overrides_typed_fields():
    cfg = parse_args(["--epochs", "3", "--widths", "32,64", "--flip", "false", "--lr", "0.01"])
    assert (cfg.epochs, cfg.widths, cfg.flip, cfg.lr) == (3, (32, 64), False, 0.01)
