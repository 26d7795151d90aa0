"""Paired training (member 3): the pair loss, the partners' draw, and a paired run that exports like any other."""

from __future__ import annotations

import json

import keras
import numpy as np
import pytest

from service.preprocessing import PreprocessConfig
from tests.support.configs import tiny_config
from training.config import TrainConfig
from training.export import export
from training.model import build_model
from training.pairing import PairedBatches, PairLoss, Partners, build_paired_model, load_partners
from training.train import load_classifier, train

LABEL = np.eye(7, dtype=np.float32)[[3, 0]]
FACE = np.array([[0.1, 0.05, 0.05, 0.6, 0.1, 0.05, 0.05], [0.3, 0.1, 0.1, 0.1, 0.2, 0.1, 0.1]], np.float32)
PARTNER = np.array([[0.2, 0.1, 0.1, 0.3, 0.1, 0.1, 0.1], [0.1, 0.1, 0.3, 0.2, 0.1, 0.1, 0.1]], np.float32)


@pytest.fixture(autouse=True)
def float32_policy():
    keras.mixed_precision.set_global_policy("float32")


def by_hand(consistency: float, smoothing: float) -> np.ndarray:
    """Each pair's loss, written out: the two cross-entropies' mean plus the weighted KL."""
    target = LABEL * (1 - smoothing) + smoothing / 7
    ce_face, ce_partner = -np.sum(target * np.log(FACE), 1), -np.sum(target * np.log(PARTNER), 1)
    kl = np.sum(FACE * (np.log(FACE) - np.log(PARTNER)), 1)
    return (ce_face + ce_partner) / 2 + consistency * kl


def test_pair_loss_is_the_mean_cross_entropy_plus_the_weighted_kl():
    pairs = np.concatenate([FACE, PARTNER], axis=1)
    weights = np.array([2.0, 0.5], np.float32)
    loss = PairLoss(consistency=1.5, label_smoothing=0.1)(LABEL, pairs, sample_weight=weights)
    expected = np.mean(weights * by_hand(1.5, 0.1))
    assert float(loss) == pytest.approx(expected, rel=1e-5)
    assert float(PairLoss(0.0)(LABEL, pairs)) == pytest.approx(np.mean(by_hand(0.0, 0.0)), rel=1e-5)


def test_only_the_partner_learns_from_the_kl():
    import tensorflow as tf  # the tests' backend; the loss itself is Keras ops

    pairs = tf.Variable(np.concatenate([FACE, PARTNER], axis=1))
    gradients = []
    for consistency in (0.0, 3.0):
        with tf.GradientTape() as tape:
            loss = PairLoss(consistency)(LABEL, pairs)
        gradients.append(tape.gradient(loss, pairs).numpy())
    np.testing.assert_allclose(gradients[0][:, :7], gradients[1][:, :7], atol=1e-6)  # the face's: CE only
    assert np.abs(gradients[0][:, 7:] - gradients[1][:, 7:]).max() > 0.1


def test_with_the_face_as_its_own_partner_and_no_augmentation_the_pair_loss_is_cross_entropy():
    cfg = TrainConfig(widths=(8, 16), dense_units=16, block_dropout=0.0, head_dropout=0.0)
    classifier = build_model(cfg)
    faces = np.random.default_rng(1).random((6, 48, 48, 1), dtype=np.float32)
    labels = np.eye(7, dtype=np.float32)[[0, 1, 2, 3, 4, 5]]
    # Inference mode: no augmentation, no dropout, the same probabilities for both halves of a pair.
    pairs = build_paired_model(classifier, cfg)({"face": faces, "partner": faces}, training=False)
    plain = keras.losses.CategoricalCrossentropy(label_smoothing=0.1)(labels, classifier(faces, training=False))
    assert float(PairLoss(0.0, 0.1)(labels, pairs)) == pytest.approx(float(plain), rel=1e-5)
    assert float(PairLoss(2.0, 0.1)(labels, pairs)) == pytest.approx(float(plain), rel=1e-5)  # KL(p || p) = 0
    augmented = build_paired_model(classifier, cfg)({"face": faces, "partner": faces}, training=True)
    assert np.abs(augmented[:, :7] - augmented[:, 7:]).max() > 1e-3  # each half augmented on its own (no dropout here)


def hand_partners() -> Partners:
    """Example 0 has crops 0-1, example 1 none, example 2 crops 2-4, example 3 crop 5."""
    crops = np.arange(6, dtype=np.uint8)[:, None, None] * np.ones((1, 48, 48), np.uint8)
    return Partners(crops, np.array([0, 2, 2, 5]), np.array([2, 0, 3, 1]), PreprocessConfig(scale=1.0))


def test_partners_are_drawn_by_seed_and_epoch_and_a_face_without_crops_is_its_own():
    partners = hand_partners()
    draws = np.stack([partners.draw(seed=4, epoch=epoch) for epoch in range(40)])
    np.testing.assert_array_equal(draws[3], partners.draw(seed=4, epoch=3))
    assert np.any(draws[0] != draws[1]) or np.any(draws[0] != draws[2])  # anew each epoch
    assert np.any(np.stack([partners.draw(seed=5, epoch=epoch) for epoch in range(40)]) != draws)  # and by seed
    assert set(draws[:, 0]) == {0, 1} and set(draws[:, 1]) == {-1} and set(draws[:, 2]) == {2, 3, 4}
    assert set(draws[:, 3]) == {5}
    faces = np.full((4, 48, 48, 1), 0.5, np.float32)
    images = partners.images(np.array([1, -1, 4, 5]), faces)
    assert [float(image.mean()) for image in images] == [1.0, 0.5, 4.0, 5.0]  # crops 1, 4, 5; face 1 itself


def test_load_partners_keeps_the_crops_of_the_runs_faces_grouped_by_their_row(tmp_path):
    split_labels = np.array([0, 1, 2, 3, 4, 5])
    crops = np.arange(5, dtype=np.uint8)[:, None, None] * np.ones((1, 48, 48), np.uint8)
    path = tmp_path / "crops.npz"
    sources = np.array([2, 0, 2, 5, 1])
    np.savez(path, x=crops, y=split_labels[sources], source=sources, training_faces=np.array(6))
    partners = load_partners(path, split_labels, np.array([0, 2, 3]), PreprocessConfig())  # a limit_train run
    np.testing.assert_array_equal(partners.counts, [1, 2, 0])
    np.testing.assert_array_equal(partners.starts, [0, 1, 3])
    np.testing.assert_array_equal(partners.crops[:, 0, 0], [1, 0, 2])  # row 0: crop 1; row 1 (face 2): crops 0, 2
    np.savez(path, x=crops, y=np.zeros(5, int), source=sources, training_faces=np.array(6))
    with pytest.raises(ValueError, match="another prepared dataset"):
        load_partners(path, split_labels, np.arange(6), PreprocessConfig())


def test_paired_batches_of_an_epoch_do_not_depend_on_the_epochs_before():
    arrays = (np.random.default_rng(0).random((4, 48, 48, 1), dtype=np.float32), np.eye(4), np.ones(4))
    straight = PairedBatches(arrays, hand_partners(), batch_size=3, seed=9)
    straight.set_epoch(1)
    straight.set_epoch(2)
    resumed = PairedBatches(arrays, hand_partners(), batch_size=3, seed=9)
    resumed.set_epoch(2)
    for index in range(len(straight)):
        (a, *rest_a), (b, *rest_b) = straight[index], resumed[index]
        for key in ("face", "partner"):
            np.testing.assert_array_equal(a[key], b[key])
        np.testing.assert_array_equal(rest_a[0], rest_b[0])
    assert len(straight) == 2 and straight[1][0]["face"].shape == (1, 48, 48, 1)


@pytest.mark.slow
def test_a_paired_run_exports_its_single_image_classifier(prepared_sample, sample_crops, tmp_path):
    pairs = {"paired_crops": str(sample_crops), "consistency": 1.0, "histograms": False}
    cfg = tiny_config(prepared_sample, tmp_path / "runs", "paired", **pairs)
    trained = train(cfg, verbose=0)
    faces = np.random.default_rng(2).random((8, 48, 48, 1), dtype=np.float32)
    reloaded = load_classifier(cfg.run_dir)  # what export loads: the plain training model's layout
    np.testing.assert_allclose(reloaded.predict(faces, verbose=0), trained.predict(faces, verbose=0), atol=1e-6)
    assert reloaded.input_shape == (None, 48, 48, 1) and reloaded.output_shape == (None, 7)
    out = tmp_path / "store" / "fer_cnn_pair" / "0.0.1"
    meta = export(cfg.run_dir, out, "fer_cnn_pair", "0.0.1", tta="flip", bn_images=64)
    card = json.loads((out / "model.json").read_text())
    assert (out / "model.onnx").is_file() and meta["export"]["parity_max_abs"] < 1e-4
    assert card["training"]["config"]["paired_crops"] == str(sample_crops)
    assert card["training"]["config"]["consistency"] == 1.0
