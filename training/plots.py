"""Evaluation figures: confusion matrix and the most confident mistakes."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only; no display on training machines
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402


def plot_confusion(matrix: np.ndarray, labels: list[str], path: Path, title: str) -> None:
    """Row-normalised confusion matrix with counts, true classes as rows."""
    norm = matrix / np.maximum(matrix.sum(axis=1, keepdims=True), 1)
    fig, ax = plt.subplots(figsize=(7, 6))
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
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_hard_examples(
    faces: np.ndarray, labels: np.ndarray, probs: np.ndarray, names: list[str], path: Path, count: int = 24
) -> None:
    """Gallery of the wrong predictions made with the highest confidence."""
    pred = probs.argmax(1)
    wrong = np.flatnonzero(pred != labels)
    hardest = wrong[np.argsort(-probs[wrong, pred[wrong]])][:count]
    cols = 6
    rows = max(1, int(np.ceil(len(hardest) / cols)))
    fig, axes = plt.subplots(rows, cols, figsize=(cols * 1.9, rows * 2.2))
    for ax in np.ravel(axes):
        ax.axis("off")
    for ax, i in zip(np.ravel(axes), hardest, strict=False):
        ax.imshow(faces[i], cmap="gray", vmin=0, vmax=255)
        ax.set_title(f"true {names[labels[i]]}\npred {names[pred[i]]} {probs[i, pred[i]]:.2f}", fontsize=7)
    fig.suptitle("Most confident mistakes (PrivateTest)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
