"""Paired training (ensemble member 3, issue 24): each Training face with a detector crop of itself.

    python -m training.train --paired_crops data/processed/detector_crops.npz --consistency 1.0

Every Training example becomes a pair: the FER-2013 face and a partner, one of the crops the service's
detectors cut from that face planted in a scene (``training.detector_crops``), drawn anew each epoch
from ``(seed, epoch)``, or the face itself when no detector found it. Both images go through the
training augmentation independently, as one batch of twice the size, and the loss of a pair is

    (CE(label, p_face) + CE(label, p_partner)) / 2 + consistency * KL(stop_gradient(p_face) || p_partner)

(label smoothing as configured; the class weight scales the whole of it): the FER-2013 crop teaches
the detector's crop of the same face, which the service classifies. The training model's only
weights are the classifier's, so its ``.weights.h5`` loads into the plain training model: export,
precise BN and ``load_classifier`` treat a paired run like any other. Validation pairs each PublicTest
face with itself, so val_loss and val_accuracy are the single classifier's.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import keras
import numpy as np
from keras import layers

from service.preprocessing import PreprocessConfig, to_model_input
from training.checkpoint import EpochBatches
from training.config import TrainConfig
from training.labels import LABELS
from training.model import INPUT_SHAPE, build_augmenter

N_CLASSES = len(LABELS)
EPS = 1e-7
# Keeps the partner draw's random stream apart from EpochBatches' permutation, drawn from [seed, epoch].
PARTNER_STREAM = 1


@dataclass(frozen=True)
class Partners:
    """Detector crops grouped by the training example they were cut from (its row in the run's arrays)."""

    crops: np.ndarray  # (M, size, size) uint8, preprocessed, example 0's first
    starts: np.ndarray  # (N,) each example's first crop
    counts: np.ndarray  # (N,) each example's number of crops; 0: the face is its own partner
    pre: PreprocessConfig

    def draw(self, seed: int, epoch: int) -> np.ndarray:
        """Each example's partner this epoch: one of its crops, uniformly (an index into ``crops``), or -1."""
        rng = np.random.default_rng([seed, epoch, PARTNER_STREAM])
        picks = (rng.random(len(self.counts)) * self.counts).astype(np.int64)
        return np.where(self.counts > 0, self.starts + picks, -1)

    def images(self, chosen: np.ndarray, faces: np.ndarray) -> np.ndarray:
        """A batch's partner images as model input: the ``chosen`` crops, and the face itself where -1."""
        partners = faces.copy()
        found = chosen >= 0
        partners[found] = to_model_input(self.crops[chosen[found]], self.pre)
        return partners


def load_partners(path: str | Path, split_labels: np.ndarray, rows: np.ndarray, pre: PreprocessConfig) -> Partners:
    """The crops in ``path`` whose source face is among the Training ``rows`` a run uses (all of them,
    or ``limit_train``'s), grouped by that face's position in ``rows``; ``split_labels`` is the whole
    Training split's, against which the file is checked."""
    with np.load(path) as data:
        crops, labels, sources, total = data["x"], data["y"], data["source"], int(data["training_faces"])
    if total != len(split_labels) or np.any(labels != split_labels[sources]):
        raise ValueError(f"{path} was made from another prepared dataset: make it again (training.detector_crops)")
    if crops.shape[1:] != (pre.size, pre.size):
        raise ValueError(f"{path}: crops of shape {crops.shape[1:]}, the model takes {pre.size}x{pre.size}")
    position = np.searchsorted(rows, sources)
    used = rows[np.minimum(position, len(rows) - 1)] == sources
    order = np.argsort(position[used], kind="stable")
    counts = np.bincount(position[used], minlength=len(rows))
    missing = int(np.sum(counts == 0))
    print(f"pairing {len(rows)} Training faces with {int(used.sum())} detector crops ({missing} without one)")
    return Partners(crops[used][order], np.cumsum(counts) - counts, counts, pre)


class PairedBatches(EpochBatches):
    """:class:`EpochBatches` of pairs, ``({"face", "partner"}, targets, weights)``; the partners are drawn
    in :meth:`set_epoch`, so a resumed run draws those an uninterrupted one would have."""

    def __init__(self, arrays: tuple[np.ndarray, ...], partners: Partners, batch_size: int, seed: int):
        self.partners = partners
        super().__init__(arrays, batch_size, seed)

    def set_epoch(self, epoch: int) -> None:
        super().set_epoch(epoch)
        self.chosen = self.partners.draw(self.seed, epoch)

    def __getitem__(self, index: int) -> tuple:
        rows = self.order[index * self.batch_size : (index + 1) * self.batch_size]
        faces, targets, weights = (array[rows] for array in self.arrays)
        return {"face": faces, "partner": self.partners.images(self.chosen[rows], faces)}, targets, weights


class PairProbabilities(layers.Layer):
    """The classifier's (2N, 7) probabilities of [faces; partners] -> (N, 14) ``[p_face | p_partner]``."""

    def call(self, probs):
        halves = keras.ops.reshape(probs, (2, -1, N_CLASSES))
        return keras.ops.concatenate([halves[0], halves[1]], axis=-1)

    def compute_output_shape(self, input_shape):
        # Given, not inferred: JAX cannot trace the reshape of an unknown batch into two halves.
        batch = input_shape[0]
        return (None if batch is None else batch // 2, 2 * N_CLASSES)


def build_paired_model(classifier: keras.Model, cfg: TrainConfig) -> keras.Model:
    """Faces and partners stacked into one batch, through the augmentation and the classifier."""
    face, partner = keras.Input(INPUT_SHAPE, name="face"), keras.Input(INPUT_SHAPE, name="partner")
    # float32 as the plain model's input, whatever the mixed-precision policy: augmentation sees the same.
    both = layers.Concatenate(axis=0, name="pair_stack", dtype="float32")([face, partner])
    probs = PairProbabilities(name="pair_probs", dtype="float32")(classifier(build_augmenter(cfg)(both)))
    return keras.Model({"face": face, "partner": partner}, probs, name="fer_train")


@keras.saving.register_keras_serializable(package="fer")
class PairLoss(keras.losses.Loss):
    """The loss above, on one-hot labels and ``[p_face | p_partner]``."""

    def __init__(self, consistency: float, label_smoothing: float = 0.0, **kwargs):
        super().__init__(name=kwargs.pop("name", "pair"), **kwargs)
        self.consistency = consistency
        self.label_smoothing = label_smoothing

    def call(self, y_true, y_pred):
        ops = keras.ops
        y_pred = ops.cast(y_pred, "float32")
        face, partner = y_pred[:, :N_CLASSES], y_pred[:, N_CLASSES:]
        smoothing = self.label_smoothing
        ce = keras.losses.categorical_crossentropy(y_true, face, label_smoothing=smoothing)
        ce += keras.losses.categorical_crossentropy(y_true, partner, label_smoothing=smoothing)
        teacher = ops.stop_gradient(ops.clip(face, EPS, 1.0))
        kl = ops.sum(teacher * (ops.log(teacher) - ops.log(ops.clip(partner, EPS, 1.0))), axis=-1)
        return ce / 2.0 + self.consistency * kl

    def get_config(self):
        return {**super().get_config(), "consistency": self.consistency, "label_smoothing": self.label_smoothing}


def face_accuracy(y_true, y_pred):
    """Accuracy of the face's probabilities (the first 7 columns) against the labels."""
    return keras.metrics.categorical_accuracy(y_true, y_pred[:, :N_CLASSES])


def paired_loss_and_metrics(cfg: TrainConfig) -> tuple[keras.losses.Loss, list]:
    """The pair loss, and accuracy named "accuracy" so val_accuracy drives checkpoints as in any run."""
    if cfg.teacher:
        raise ValueError("--paired_crops trains on the labels: use it without --teacher")
    return PairLoss(cfg.consistency, cfg.label_smoothing), [keras.metrics.MeanMetricWrapper(face_accuracy, "accuracy")]
