"""Evaluation figures: confusion matrix and the most confident mistakes.

Figures are built without pyplot (no backend state), so ``training.evaluate`` saves them and
``notebooks/02_Training.ipynb`` shows the same figures inline.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib.figure import Figure


def confusion_figure(matrix: np.ndarray, labels: list[str], title: str) -> Figure:
    """Row-normalised confusion matrix with counts, true classes as rows."""
    norm = matrix / np.maximum(matrix.sum(axis=1, keepdims=True), 1)
    fig = Figure(figsize=(7, 6), layout="tight")
    ax = fig.subplots()
    ax.imshow(norm, cmap="Blues", vmin=0, vmax=1)
    for i in range(len(labels)):
        for j in range(len(labels)):
            color = "white" if norm[i, j] > 0.5 else "black"
            ax.text(j, i, f"{norm[i, j]:.2f}\n({matrix[i, j]})", ha="center", va="center", fontsize=7, color=color)
    ax.set_xticks(range(len(labels)), labels, rotation=45, ha="right")
    ax.set_yticks(range(len(labels)), labels)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(f"Confusion matrix, {title} (row-normalised)")
    return fig


def hard_examples_figure(
    faces: np.ndarray, labels: np.ndarray, probs: np.ndarray, names: list[str], count: int = 24
) -> Figure:
    """Gallery of the wrong predictions made with the highest confidence."""
    pred = probs.argmax(1)
    wrong = np.flatnonzero(pred != labels)
    hardest = wrong[np.argsort(-probs[wrong, pred[wrong]])][:count]
    cols = 6
    rows = max(1, int(np.ceil(len(hardest) / cols)))
    fig = Figure(figsize=(cols * 1.9, rows * 2.2), layout="tight")
    axes = np.atleast_1d(fig.subplots(rows, cols))
    for ax in np.ravel(axes):
        ax.axis("off")
    for ax, i in zip(np.ravel(axes), hardest, strict=False):
        ax.imshow(faces[i], cmap="gray", vmin=0, vmax=255)
        ax.set_title(f"true {names[labels[i]]}\npred {names[pred[i]]} {probs[i, pred[i]]:.2f}", fontsize=7)
    fig.suptitle("Most confident mistakes (PrivateTest)")
    return fig


def plot_confusion(matrix: np.ndarray, labels: list[str], path: Path, title: str) -> None:
    confusion_figure(matrix, labels, title).savefig(path, dpi=110)


def plot_hard_examples(
    faces: np.ndarray, labels: np.ndarray, probs: np.ndarray, names: list[str], path: Path, count: int = 24
) -> None:
    hard_examples_figure(faces, labels, probs, names, count).savefig(path, dpi=110)
