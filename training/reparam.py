"""Folding a network trained with RepVGG branches (``TrainConfig.rep_branches``) into the plain one.

Each 3x3 convolution of such a network trained beside a 1x1 convolution and, where its width is kept, the
identity, each branch with its own BatchNorm (``training.model.conv_bn``). At inference every branch is
linear, so their sum is one 3x3 convolution with a bias (Ding et al., 2021, "RepVGG"): the 1x1 kernel is
the 3x3 kernel's centre, the identity a centre of ones. ``fold_branches`` writes that kernel into the
plain network's 3x3 convolution and the bias into its BatchNorm, set to pass its input through plus the
bias, so the exported graph is the plain network's, at its cost. Run it after precise BN, which
re-estimates every branch's statistics.
"""

from __future__ import annotations

from dataclasses import replace

import keras
import numpy as np

from training.config import TrainConfig
from training.model import build_model


class FoldError(RuntimeError):
    """The folded network does not compute what the branched one does."""


def fold_batchnorm(kernel: np.ndarray, bn: keras.layers.BatchNormalization) -> tuple[np.ndarray, np.ndarray]:
    """``bn(conv(x))`` as one convolution: the kernel scaled per output channel, and a bias."""
    gamma, beta, mean, variance = bn.get_weights()
    scale = gamma / np.sqrt(variance + bn.epsilon)
    return kernel * scale, beta - mean * scale


def folded_kernel(model: keras.Model, conv: str, bn: str) -> tuple[np.ndarray, np.ndarray]:
    """The 3x3 kernel and bias equal to the sum of one convolution's branches."""
    kernel, bias = fold_batchnorm(model.get_layer(conv).get_weights()[0], model.get_layer(bn))
    one, one_bias = fold_batchnorm(model.get_layer(f"{conv}_1x1").get_weights()[0], model.get_layer(f"{bn}_1x1"))
    kernel[1, 1] += one[0, 0]
    bias = bias + one_bias
    if any(layer.name == f"{bn}_id" for layer in model.layers):
        channels = kernel.shape[-1]
        identity = np.zeros((3, 3, channels, channels), kernel.dtype)
        identity[1, 1] = np.eye(channels, dtype=kernel.dtype)
        same, same_bias = fold_batchnorm(identity, model.get_layer(f"{bn}_id"))
        kernel, bias = kernel + same, bias + same_bias
    return kernel, bias


def fold_branches(model: keras.Model, cfg: TrainConfig, faces: np.ndarray, tolerance: float = 1e-4) -> keras.Model:
    """The plain network computing what ``model`` (built with ``cfg``) computes; checked on ``faces``."""
    plain = build_model(replace(cfg, rep_branches=False))
    for layer in plain.layers:
        if layer.get_weights():
            layer.set_weights(model.get_layer(layer.name).get_weights())
    branched = {layer.name for layer in model.layers}
    for layer in plain.layers:
        if isinstance(layer, keras.layers.Conv2D) and f"{layer.name}_1x1" in branched:
            bn = layer.name.replace("_conv", "_bn")
            kernel, bias = folded_kernel(model, layer.name, bn)
            layer.set_weights([kernel])
            norm = plain.get_layer(bn)  # passes its input through, plus the bias
            norm.set_weights([np.ones_like(bias), bias, np.zeros_like(bias), np.full_like(bias, 1 - norm.epsilon)])
    gap = float(np.abs(model.predict(faces, verbose=0) - plain.predict(faces, verbose=0)).max())
    if gap > tolerance:
        raise FoldError(f"the folded network differs from the branched one by {gap:.2e} (> {tolerance:.0e})")
    return plain
