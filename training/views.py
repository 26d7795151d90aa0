"""The student's teacher views (issue 24): the teacher's outputs cached on K augmented views of every
Training face, and the batches that train a student on exactly those views.

A teacher's target is worth most when it is the teacher's output on the very view the student sees
(Beyer et al., 2022, "Knowledge distillation: A good teacher is patient and consistent"); clean-face
targets (``training.teach`` without views) do not match the augmented faces a student trains on.
Computing the teacher online would cost each training image a teacher pass every epoch: a fer_cnn member
is 1,874 MFLOP a face with its flip TTA, the student 59, so on two CPU cores the teacher would take most
of every epoch, again each epoch. ``training.teach --views K`` pays it once, on K views made with the
training augmentation itself, and each epoch the student gets, for every face, one of its K views and the
teacher's output on it. A face goes through its K views in an order drawn from ``(seed, epoch // K)``,
one an epoch: every view is used once every K epochs, and a resumed run draws what an uninterrupted one
would have (as ``EpochBatches`` and ``PairedBatches`` do).

Views are stored as uint8 preprocessed faces, as ``training.prepare`` stores the clean ones: the same
1/255 steps, half the bytes of float16 (28,709 x 48 x 48 bytes = 66 MB per view before compression), and
the teacher's outputs are computed on the stored faces, so they are exactly what the student gets.
The student adds only its horizontal flip, and only where the teacher is flip-invariant (it averages
its own mirror image: every exported fer_cnn model bakes that in), since a mirrored view then has the
same target; the int8 graphs quantize their two flip branches with their own scales, so theirs is
approximate (0.0012 mean absolute gap on the sample against 0.03 for fer_lite, which has no flip TTA).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import keras
import numpy as np

from service.preprocessing import PreprocessConfig, to_model_input
from training.checkpoint import EpochBatches
from training.config import TrainConfig
from training.distill import kd_targets
from training.model import build_augmenter

# The TrainConfig fields that make a view; all but the flip are left out of a run on the views.
AUGMENTATION = ("flip", "rotation_deg", "translate", "zoom", "erase")
# Mean absolute gap between the teacher's probabilities of a face and of its mirror below which the
# teacher counts as averaging its flip (int8 fer_cnn 0.0012, float 0; without flip TTA 0.03).
FLIP_TOLERANCE = 0.01
# Keeps the view draw's random stream apart from EpochBatches' permutation and pairing's partners.
VIEW_STREAM = 2


def view_augmenter(cfg: TrainConfig, seed: int) -> keras.Sequential:
    """The training augmentation of ``cfg``, its random generators seeded from ``seed`` (Keras draws
    their seeds from the global one when they are built): the same seed, the same views."""
    keras.utils.set_random_seed(seed)
    return build_augmenter(cfg)


def augmented_faces(augmenter: keras.Sequential, x: np.ndarray, pre: PreprocessConfig) -> np.ndarray:
    """One augmented view of each face of the model-input batch ``x``, as uint8 preprocessed faces
    (rounded to the steps every prepared face has)."""
    views = keras.ops.convert_to_numpy(augmenter(x, training=True))[..., 0]
    return np.clip(np.rint(views / pre.scale), 0, 255).astype(np.uint8)


def flip_gap(predict, x: np.ndarray) -> float:
    """Mean absolute difference of ``predict``'s probabilities of faces and of their mirror images."""
    return float(np.abs(predict(x) - predict(np.ascontiguousarray(x[:, :, ::-1]))).mean())


@dataclass(frozen=True)
class TeacherViews:
    """A run's Training faces (its rows, in order), each as K views with the targets of each."""

    faces: np.ndarray  # (K, N, size, size) uint8 preprocessed views
    targets: np.ndarray  # (K, N, 14) [one-hot | tempered teacher probabilities on that view]
    pre: PreprocessConfig

    def draw(self, seed: int, epoch: int) -> np.ndarray:
        """Each face's view this epoch: position ``epoch % K`` of an order of its K views drawn
        from ``(seed, epoch // K)``."""
        count, faces = self.faces.shape[:2]
        rng = np.random.default_rng([seed, epoch // count, VIEW_STREAM])
        orders = rng.permuted(np.tile(np.arange(count), (faces, 1)), axis=1)
        return orders[:, epoch % count]


def load_views(cfg: TrainConfig, split_labels: np.ndarray, rows: np.ndarray, pre: PreprocessConfig) -> TeacherViews:
    """The views in ``cfg.teacher`` of the Training ``rows`` a run uses, with their tempered targets;
    ``split_labels`` is the whole Training split's, against which the file is checked."""
    if not cfg.teacher:
        raise ValueError("--teacher_views trains on a teacher's views: give its file with --teacher")
    check_views(cfg, json.loads(Path(cfg.teacher).with_suffix(".json").read_text()))
    with np.load(cfg.teacher, allow_pickle=False) as data:
        faces, probs = data["Training_views"], data["Training_view_probs"]
    if faces.shape[1:] != (len(split_labels), pre.size, pre.size):
        raise ValueError(f"{cfg.teacher}: views of shape {faces.shape[1:]}, not of this run's Training faces")
    one_hot = np.eye(probs.shape[-1], dtype=np.float32)[split_labels[rows]]
    targets = np.stack([kd_targets(one_hot, view_probs[rows], cfg.kd_temperature) for view_probs in probs])
    print(f"training on {faces.shape[0]} teacher views of each of {len(rows)} Training faces", flush=True)
    return TeacherViews(faces[:, rows], targets, pre)


def check_views(cfg: TrainConfig, record: dict) -> None:
    """Refuse a run whose config would not say what it trains on: views made with another
    augmentation, or a flip added where the teacher's target would change with it."""
    views = record.get("views")
    if not views:
        raise ValueError(f"{cfg.teacher} holds no views: make it with python -m training.teach --views K")
    made = views["augmentation"]
    changed = [name for name in AUGMENTATION[1:] if made[name] != getattr(cfg, name)]
    if changed:
        said = ", ".join(f"{name} {made[name]} (this run: {getattr(cfg, name)})" for name in changed)
        raise ValueError(f"{cfg.teacher}'s views were made with {said}: give the run their augmentation")
    if cfg.flip and not views["flip_invariant"]:
        gap = views["flip_mean_abs_gap"]
        raise ValueError(f"{cfg.teacher}: the teacher does not average its flip (gap {gap:.3f}): use --flip false")


class ViewBatches(EpochBatches):
    """:class:`EpochBatches` whose faces and targets are each face's view of the epoch; the views are
    drawn in :meth:`set_epoch`. ``arrays`` are the clean faces, targets and sample weights: only the
    weights are served from them."""

    def __init__(self, arrays: tuple[np.ndarray, ...], views: TeacherViews, batch_size: int, seed: int):
        self.views = views
        super().__init__(arrays, batch_size, seed)

    def set_epoch(self, epoch: int) -> None:
        super().set_epoch(epoch)
        self.chosen = self.views.draw(self.seed, epoch)

    def __getitem__(self, index: int) -> tuple[np.ndarray, ...]:
        rows = self.order[index * self.batch_size : (index + 1) * self.batch_size]
        chosen = self.chosen[rows]
        faces = to_model_input(self.views.faces[chosen, rows], self.views.pre)
        return faces, self.views.targets[chosen, rows], self.arrays[2][rows]
