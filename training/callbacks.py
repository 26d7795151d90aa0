"""Callbacks beyond Keras' own: per-class validation accuracy, gradient histograms, curves."""

from __future__ import annotations

import csv
import time
from pathlib import Path

import keras
import numpy as np

from training.labels import LABELS


def tensorflow_backend() -> bool:
    """TensorBoard's summaries and gradient tapes are TensorFlow's: on another backend (JAX on a GPU
    machine, which has no TensorFlow) training logs to history.csv and progress.csv only."""
    return keras.backend.backend() == "tensorflow"


class PerClassValidation(keras.callbacks.Callback):
    """Per-class validation accuracy (recall) into the epoch's logs (so history.csv has it) and, on
    TensorFlow's backend, with gradient histograms into TensorBoard."""

    def __init__(self, classifier: keras.Model, x_val, y_val, log_dir: Path, grad_batch=None):
        super().__init__()
        self.classifier, self.x_val, self.y_val = classifier, x_val, y_val
        self.grad_batch = grad_batch  # (x, y_onehot) used for gradient histograms
        self.tf = self.writer = None
        if tensorflow_backend():
            import tensorflow as tf

            self.tf = tf
            self.writer = tf.summary.create_file_writer(str(log_dir / "validation_per_class"))

    def on_epoch_end(self, epoch, logs=None):
        pred = self.classifier.predict(self.x_val, batch_size=512, verbose=0).argmax(1)
        accuracies = {
            name: float((pred[self.y_val == i] == i).mean()) for i, name in enumerate(LABELS) if (self.y_val == i).any()
        }
        if logs is not None:
            logs.update({f"val_acc_{name}": acc for name, acc in accuracies.items()})
        if self.writer is not None:
            self._write_summaries(epoch, accuracies)

    def _write_summaries(self, epoch: int, accuracies: dict[str, float]) -> None:
        with self.writer.as_default():
            for name, acc in accuracies.items():
                self.tf.summary.scalar(f"val_class_accuracy/{name}", acc, step=epoch)
            if self.grad_batch is not None:
                self._write_gradients(epoch)
        self.writer.flush()

    def _write_gradients(self, epoch: int) -> None:
        x, y = self.grad_batch
        model = self.classifier
        with self.tf.GradientTape() as tape:
            loss = keras.losses.categorical_crossentropy(y, model(x, training=True))
            loss = self.tf.reduce_mean(loss)
        grads = tape.gradient(loss, model.trainable_weights)
        for weight, grad in zip(model.trainable_weights, grads, strict=True):
            if grad is not None:
                self.tf.summary.histogram(f"gradients/{weight.path}", grad, step=epoch)


class StopBeforeDeadline(keras.callbacks.Callback):
    """Ends training after the epoch whose successor would not finish by ``deadline`` (a Unix time):
    a leased machine's run stops at an epoch's end, with its checkpoint and weights written."""

    def __init__(self, deadline: float):
        super().__init__()
        self.deadline = deadline
        self.started = 0.0
        self.shortest = float("inf")  # the first epoch includes compilation: later ones are shorter
        self.stopped_epoch: int | None = None

    def on_epoch_begin(self, epoch, logs=None):
        self.started = time.time()

    def on_epoch_end(self, epoch, logs=None):
        now = time.time()
        self.shortest = min(self.shortest, now - self.started)
        if now + self.shortest > self.deadline:
            self.model.stop_training = True
            self.stopped_epoch = epoch


def curves_figure(history_csv: Path, title: str = ""):
    """Loss and accuracy curves (train and validation) from Keras' CSVLogger output, or None if empty.

    Built without pyplot, so a notebook can show it and training can save it.
    """
    from matplotlib.figure import Figure

    with Path(history_csv).open() as handle:
        rows = list(csv.DictReader(handle))
    if not rows:
        return None
    epochs = np.array([int(r["epoch"]) + 1 for r in rows])
    fig = Figure(figsize=(11, 4), layout="tight")
    for ax, key in zip(fig.subplots(1, 2), ("loss", "accuracy"), strict=True):
        ax.plot(epochs, [float(r[key]) for r in rows], label=f"train {key}")
        ax.plot(epochs, [float(r[f"val_{key}"]) for r in rows], label=f"val {key} (PublicTest)")
        ax.set_xlabel("epoch")
        ax.set_title(key)
        ax.grid(alpha=0.3)
        ax.legend()
    if title:
        fig.suptitle(title)
    return fig


def plot_curves(history_csv: Path, out_png: Path) -> None:
    fig = curves_figure(history_csv)
    if fig is not None:
        fig.savefig(out_png, dpi=110)
