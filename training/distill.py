"""Knowledge distillation: the student learns from a teacher's softened probabilities and the labels.

    loss = (1 - alpha) * CE(labels, student) + alpha * T^2 * KL(teacher_T || student_T)

where ``p_T`` is ``softmax(log p / T)`` (Hinton et al., 2015; the T^2 keeps the soft gradients
on the scale of the hard ones). The teacher's probabilities come from ``training.teach``,
computed once and cached: on two CPU cores a teacher forward pass every step would cost more
than the student's own training. By default they are computed on the un-augmented faces (with
the teacher's flip TTA, so a mirrored face has the same target) while the student sees augmented
faces, whose targets then are not the teacher's answer for what the student sees; ``training.teach
--views K`` also caches them on K augmented views of each face, on which a run with
``--teacher_views true`` trains instead (training.views).

The targets travel to Keras as one array, ``[one-hot labels | tempered teacher probabilities]``.
"""

from __future__ import annotations

from pathlib import Path

import keras
import numpy as np

from training.labels import LABELS

N_CLASSES = len(LABELS)
EPS = 1e-7


def tempered(probs: np.ndarray, temperature: float) -> np.ndarray:
    """``softmax(log p / T)``: the distribution a network with these probabilities gives at temperature T."""
    logits = np.log(np.clip(probs.astype(np.float64), EPS, 1.0)) / temperature
    logits -= logits.max(axis=1, keepdims=True)
    soft = np.exp(logits)
    return (soft / soft.sum(axis=1, keepdims=True)).astype(np.float32)


def load_teacher(path: str | Path, split: str) -> np.ndarray:
    """A split's teacher probabilities (N, 7), in the order of training.prepare's output."""
    with np.load(path, allow_pickle=False) as data:
        return data[f"{split}_probs"].astype(np.float32)


def kd_targets(one_hot: np.ndarray, teacher_probs: np.ndarray, temperature: float) -> np.ndarray:
    """``[one-hot | tempered teacher]``, shape (N, 14)."""
    if len(one_hot) != len(teacher_probs):
        raise ValueError(f"{len(one_hot)} labels but {len(teacher_probs)} teacher outputs: another dataset?")
    return np.concatenate([one_hot, tempered(teacher_probs, temperature)], axis=1)


@keras.saving.register_keras_serializable(package="fer")
class DistillationLoss(keras.losses.Loss):
    """The loss above, on targets from :func:`kd_targets` and the student's probabilities."""

    def __init__(self, temperature: float, alpha: float, label_smoothing: float = 0.0, **kwargs):
        super().__init__(name=kwargs.pop("name", "distillation"), **kwargs)
        self.temperature = temperature
        self.alpha = alpha
        self.label_smoothing = label_smoothing

    def call(self, y_true, y_pred):
        ops = keras.ops
        hard, soft = y_true[:, :N_CLASSES], y_true[:, N_CLASSES:]
        y_pred = ops.cast(y_pred, "float32")
        ce = keras.losses.categorical_crossentropy(hard, y_pred, label_smoothing=self.label_smoothing)
        student_log_t = ops.log_softmax(ops.log(ops.clip(y_pred, EPS, 1.0)) / self.temperature, axis=-1)
        kl = ops.sum(soft * (ops.log(ops.clip(soft, EPS, 1.0)) - student_log_t), axis=-1)
        return (1.0 - self.alpha) * ce + self.alpha * self.temperature**2 * kl

    def get_config(self):
        return {
            **super().get_config(),
            "temperature": self.temperature,
            "alpha": self.alpha,
            "label_smoothing": self.label_smoothing,
        }


def hard_accuracy(y_true, y_pred):
    """Accuracy against the labels (the first 7 target columns)."""
    return keras.metrics.categorical_accuracy(y_true[:, :N_CLASSES], y_pred)


def accuracy_metric() -> keras.metrics.Metric:
    """Named "accuracy", so val_accuracy drives checkpoints and early stopping as without a teacher."""
    return keras.metrics.MeanMetricWrapper(hard_accuracy, name="accuracy")
