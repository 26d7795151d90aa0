"""Modular CNN builder for 48x48x1 faces, plus the training-time augmentation stack."""

from __future__ import annotations

from dataclasses import replace

import keras
from keras import layers

from training.config import TrainConfig
from training.labels import LABELS

INPUT_SHAPE = (48, 48, 1)


def conv_block(x: keras.KerasTensor, filters: int, cfg: TrainConfig, index: int) -> keras.KerasTensor:
    """(Conv2D -> BatchNorm -> ReLU) x convs_per_block -> MaxPool -> Dropout. With ``cfg.residual`` the
    block's input, projected to its width by a 1x1 convolution, is added before the last ReLU: another
    shape of network for the ensemble at about 3 % more compute."""
    shortcut = x
    last = cfg.convs_per_block - 1
    for j in range(cfg.convs_per_block):
        x = layers.Conv2D(filters, 3, padding="same", use_bias=False, name=f"b{index}_conv{j}")(x)
        x = layers.BatchNormalization(momentum=cfg.bn_momentum, name=f"b{index}_bn{j}")(x)
        if cfg.residual and j == last:
            x = layers.Add(name=f"b{index}_add")([x, _projection(shortcut, filters, cfg, index)])
        x = layers.Activation("relu", name=f"b{index}_relu{j}")(x)
    x = layers.MaxPooling2D(2, name=f"b{index}_pool")(x)
    if cfg.block_dropout > 0:
        x = layers.Dropout(cfg.block_dropout, name=f"b{index}_drop")(x)
    return x


def _projection(x: keras.KerasTensor, filters: int, cfg: TrainConfig, index: int) -> keras.KerasTensor:
    """The shortcut at the block's width: every block here changes the width, so it is always projected."""
    x = layers.Conv2D(filters, 1, use_bias=False, name=f"b{index}_proj")(x)
    return layers.BatchNormalization(momentum=cfg.bn_momentum, name=f"b{index}_proj_bn")(x)


def build_model(cfg: TrainConfig) -> keras.Model:
    """The classifier: input (48, 48, 1) float in [0, 1] -> 7 softmax probabilities."""
    inputs = keras.Input(INPUT_SHAPE, name="face")
    x = inputs
    for i, filters in enumerate(cfg.widths):
        x = conv_block(x, filters, cfg, i)
    if cfg.head == "gap":
        x = layers.GlobalAveragePooling2D(name="gap")(x)
    elif cfg.head == "flatten":
        x = layers.Flatten(name="flatten")(x)
    else:
        raise ValueError(f"unknown head {cfg.head!r} (use 'gap' or 'flatten')")
    if cfg.dense_units:
        x = layers.Dense(cfg.dense_units, use_bias=False, name="dense")(x)
        x = layers.BatchNormalization(momentum=cfg.bn_momentum, name="dense_bn")(x)
        x = layers.Activation("relu", name="dense_relu")(x)
    if cfg.head_dropout > 0:
        x = layers.Dropout(cfg.head_dropout, name="head_drop")(x)
    # Softmax in float32 even under mixed precision, for stable probabilities.
    outputs = layers.Dense(len(LABELS), activation="softmax", dtype="float32", name="probs")(x)
    return keras.Model(inputs, outputs, name="fer_cnn")


def build_augmenter(cfg: TrainConfig) -> keras.Sequential:
    """Random geometric augmentation, active only in training mode."""
    steps: list[layers.Layer] = []
    if cfg.flip:
        steps.append(layers.RandomFlip("horizontal"))
    if cfg.rotation_deg:
        steps.append(layers.RandomRotation(cfg.rotation_deg / 360.0, fill_mode="reflect"))
    if cfg.zoom:
        steps.append(layers.RandomZoom(cfg.zoom, fill_mode="reflect"))
    if cfg.translate:
        steps.append(layers.RandomTranslation(cfg.translate, cfg.translate, fill_mode="reflect"))
    if cfg.erase:
        steps.append(RandomErasing(cfg.erase))
    return keras.Sequential(steps, name="augment")


class RandomErasing(layers.Layer):
    """Zero one random square patch (up to a third of the side) with probability ``rate``."""

    def __init__(self, rate: float, **kwargs):
        super().__init__(**kwargs)
        self.rate = rate
        self.seed_gen = keras.random.SeedGenerator()

    def call(self, x, training=None):
        if not training:
            return x
        ops = keras.ops
        n, h, w = ops.shape(x)[0], INPUT_SHAPE[0], INPUT_SHAPE[1]
        side = keras.random.uniform((n, 1, 1, 1), 4, h / 3, seed=self.seed_gen)
        cy = keras.random.uniform((n, 1, 1, 1), 0, h, seed=self.seed_gen)
        cx = keras.random.uniform((n, 1, 1, 1), 0, w, seed=self.seed_gen)
        ys = ops.reshape(ops.arange(h, dtype="float32"), (1, h, 1, 1))
        xs = ops.reshape(ops.arange(w, dtype="float32"), (1, 1, w, 1))
        inside = (ops.abs(ys - cy) < side / 2) & (ops.abs(xs - cx) < side / 2)
        apply = keras.random.uniform((n, 1, 1, 1), seed=self.seed_gen) < self.rate
        return ops.where(inside & apply, ops.zeros_like(x), x)

    def get_config(self):
        return {**super().get_config(), "rate": self.rate}


def build_training_model(classifier: keras.Model, cfg: TrainConfig) -> keras.Model:
    """Augmentation followed by the classifier; only the classifier is exported. A run on the teacher's
    cached views (``cfg.teacher_views``) gets faces the training augmentation has already changed, each
    with the teacher's output on it, so only the flip is added here: it leaves the target as it is when
    the teacher averages its own flip (training.views checks that before such a run starts)."""
    if cfg.teacher_views:
        cfg = replace(cfg, rotation_deg=0.0, zoom=0.0, translate=0.0, erase=0.0)
    inputs = keras.Input(INPUT_SHAPE, name="face")
    outputs = classifier(build_augmenter(cfg)(inputs))
    return keras.Model(inputs, outputs, name="fer_train")
