"""Precise BatchNorm: recompute population statistics with the final weights.

Keras' BatchNormalization keeps moving averages with momentum 0.99, which lag behind
weights that change quickly (high learning rate, weight decay) and are measured on
augmented batches. Re-estimating mean and variance as the plain average over clean
training batches (Wu & Johnson, "Rethinking Batch in BatchNorm", 2021) removes that lag.
"""

from __future__ import annotations

import keras
import numpy as np


def batchnorm_layers(model: keras.Model) -> list[keras.layers.BatchNormalization]:
    """All BatchNormalization layers, including those inside nested models."""
    found = []
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            found.append(layer)
        elif isinstance(layer, keras.Model):
            found.extend(batchnorm_layers(layer))
    return found


def recalibrate(model: keras.Model, faces: np.ndarray, batch_size: int = 256) -> int:
    """Set every BN layer's moving statistics to the average of per-batch statistics.

    With momentum (k - 1) / k on the k-th batch, the moving value is exactly the mean of
    the k batch values. Returns the number of batches used.
    """
    layers = batchnorm_layers(model)
    batch_size = min(batch_size, len(faces))
    saved = [layer.momentum for layer in layers]
    batches = [faces[i : i + batch_size] for i in range(0, len(faces) - batch_size + 1, batch_size)]
    try:
        for k, batch in enumerate(batches, start=1):
            for layer in layers:
                layer.momentum = (k - 1) / k
            model(batch, training=True)
    finally:
        for layer, momentum in zip(layers, saved, strict=True):
            layer.momentum = momentum
    return len(batches)
