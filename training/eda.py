"""Exploratory data analysis: plots and an imbalance summary in results/eda/.

python -m training.eda --data data/processed/fer2013.npz

Each ``*_figure`` function returns a matplotlib Figure built without pyplot, so the same
figures are saved by this command and shown inline by ``notebooks/01_EDA.ipynb``.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from training.labels import LABELS, SPLITS

Data = dict[str, dict[str, np.ndarray]]


def load_all(path: Path) -> Data:
    with np.load(path, allow_pickle=False) as data:
        return {s: {k: data[f"{s}_{k}"] for k in ("raw", "x", "y")} for s in SPLITS}


def class_distribution_figure(data: Data) -> Figure:
    fig = Figure(figsize=(9, 4), layout="tight")
    ax = fig.subplots()
    width = 0.27
    for k, split in enumerate(SPLITS):
        counts = np.bincount(data[split]["y"], minlength=len(LABELS))
        share = counts / counts.sum()
        ax.bar(np.arange(len(LABELS)) + (k - 1) * width, share, width, label=f"{split} (n={counts.sum()})")
    ax.set_xticks(range(len(LABELS)), LABELS)
    ax.set_ylabel("share of split")
    ax.set_title("Class distribution per split")
    ax.legend()
    return fig


def sample_grid_figure(data: Data, per_class: int = 8) -> Figure:
    rng = np.random.default_rng(0)
    raw, y = data["Training"]["raw"], data["Training"]["y"]
    fig = Figure(figsize=(per_class * 1.1, len(LABELS) * 1.2), layout="tight")
    axes = fig.subplots(len(LABELS), per_class)
    for i, name in enumerate(LABELS):
        picks = rng.choice(np.flatnonzero(y == i), per_class, replace=False)
        for j, idx in enumerate(picks):
            axes[i, j].imshow(raw[idx], cmap="gray", vmin=0, vmax=255)
            axes[i, j].axis("off")
        axes[i, 0].set_title(name, fontsize=8, loc="left")
    return fig


def intensity_histograms_figure(data: Data) -> Figure:
    fig = Figure(figsize=(10, 3.5), layout="tight")
    axes = fig.subplots(1, 2, sharey=True)
    raw, pre, y = data["Training"]["raw"], data["Training"]["x"], data["Training"]["y"]
    for ax, images, title in ((axes[0], raw, "raw pixels"), (axes[1], pre, "after CLAHE")):
        for i, name in enumerate(LABELS):
            hist = np.bincount(images[y == i].ravel(), minlength=256)
            ax.plot(hist / hist.sum(), label=name, lw=1)
        ax.set_title(f"Pixel intensity, {title}")
        ax.set_xlabel("intensity")
    axes[0].legend(fontsize=7)
    return fig


def mean_faces_figure(data: Data) -> Figure:
    raw, y = data["Training"]["raw"], data["Training"]["y"]
    fig = Figure(figsize=(len(LABELS) * 1.5, 1.9), layout="tight")
    axes = fig.subplots(1, len(LABELS))
    for i, name in enumerate(LABELS):
        axes[i].imshow(raw[y == i].mean(axis=0), cmap="gray")
        axes[i].set_title(name, fontsize=8)
        axes[i].axis("off")
    return fig


def clahe_figure(data: Data, count: int = 6) -> Figure:
    raw, pre = data["Training"]["raw"], data["Training"]["x"]
    picks = np.random.default_rng(1).choice(len(raw), count, replace=False)
    fig = Figure(figsize=(count * 1.4, 3.2), layout="tight")
    axes = fig.subplots(2, count)
    for j, idx in enumerate(picks):
        for row, images in enumerate((raw, pre)):
            axes[row, j].imshow(images[idx], cmap="gray", vmin=0, vmax=255)
            axes[row, j].axis("off")
    axes[0, 0].set_title("raw", fontsize=8, loc="left")
    axes[1, 0].set_title("CLAHE", fontsize=8, loc="left")
    return fig


def augmentation_figure(data: Data, variants: int = 7) -> Figure:
    from service.preprocessing import PreprocessConfig, to_model_input
    from training.config import TrainConfig
    from training.model import build_augmenter

    augment = build_augmenter(TrainConfig(erase=0.25))
    faces = to_model_input(data["Training"]["x"][:4], PreprocessConfig())
    fig = Figure(figsize=((variants + 1) * 1.2, len(faces) * 1.25), layout="tight")
    axes = fig.subplots(len(faces), variants + 1)
    for i, face in enumerate(faces):
        axes[i, 0].imshow(face[..., 0], cmap="gray", vmin=0, vmax=1)
        for j in range(1, variants + 1):
            axes[i, j].imshow(np.asarray(augment(face[None], training=True))[0, ..., 0], cmap="gray", vmin=0, vmax=1)
        for ax in axes[i]:
            ax.axis("off")
    axes[0, 0].set_title("input", fontsize=8)
    return fig


def imbalance_summary(data: Data) -> str:
    """The class counts per split and what the imbalance means for training, as Markdown."""
    header = "| class | " + " | ".join(SPLITS) + " | share of Training |"
    lines = ["# FER-2013 class imbalance", "", header, "|---|---:|---:|---:|---:|"]
    counts = {s: np.bincount(data[s]["y"], minlength=len(LABELS)) for s in SPLITS}
    for i, name in enumerate(LABELS):
        share = counts["Training"][i] / counts["Training"].sum()
        lines.append(f"| {name} | " + " | ".join(str(counts[s][i]) for s in SPLITS) + f" | {share:.1%} |")
    train = counts["Training"]
    lines += [
        "",
        f"The largest class (happy, {train.max()}) has {train.max() / train.min():.1f}x the examples of the smallest "
        f"(disgust, {train.min()}). Disgust is {train.min() / train.sum():.1%} of Training, so a model that ignores it "
        "loses almost no accuracy: we weight the loss by class (see `class_weights` in training.config) and report "
        "disgust recall. The three splits have the same class mix, so PublicTest is a fair proxy for PrivateTest.",
    ]
    return "\n".join(lines) + "\n"


FIGURES: dict[str, Callable[[Data], Figure]] = {
    "class_distribution.png": class_distribution_figure,
    "samples_per_class.png": sample_grid_figure,
    "intensity_histograms.png": intensity_histograms_figure,
    "mean_face_per_class.png": mean_faces_figure,
    "clahe_before_after.png": clahe_figure,
    "augmentation_examples.png": augmentation_figure,
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", type=Path, default=Path("data/processed/fer2013.npz"))
    parser.add_argument("--out", type=Path, default=Path("results/eda"))
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    data = load_all(args.data)
    for name, make_figure in FIGURES.items():
        make_figure(data).savefig(args.out / name, dpi=100)
    (args.out / "summary.md").write_text(imbalance_summary(data))
    print(f"wrote {sorted(p.name for p in args.out.iterdir())}")


if __name__ == "__main__":
    main()
