"""Callbacks beyond Keras' own: per-class validation accuracy, gradient histograms, curves."""

from __future__ import annotations

import csv
from pathlib import Path

import keras
import numpy as np

from training.labels import LABELS


class PerClassValidation(keras.callbacks.Callback):
    """Writes per-class validation accuracy (recall) and gradient histograms to TensorBoard."""

    def __init__(self, classifier: keras.Model, x_val, y_val, log_dir: Path, grad_batch=None):
        super().__init__()
        self.classifier, self.x_val, self.y_val = classifier, x_val, y_val
        self.grad_batch = grad_batch  # (x, y_onehot) used for gradient histograms
        import tensorflow as tf  # TensorBoard summaries need TF; training runs on its backend

        self.tf = tf
        self.writer = tf.summary.create_file_writer(str(log_dir / "validation_per_class"))

    def on_epoch_end(self, epoch, logs=None):
        pred = self.classifier.predict(self.x_val, batch_size=512, verbose=0).argmax(1)
        with self.writer.as_default():
            for i, name in enumerate(LABELS):
                mask = self.y_val == i
                if mask.any():
                    acc = float((pred[mask] == i).mean())
                    self.tf.summary.scalar(f"val_class_accuracy/{name}", acc, step=epoch)
                    if logs is not None:
                        logs[f"val_acc_{name}"] = acc
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
