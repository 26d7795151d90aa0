"""Exploratory data analysis: plots and an imbalance summary in results/eda/.

python -m training.eda --data data/processed/fer2013.npz
"""

from __future__ import annotations

import argparse
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from training.labels import LABELS, SPLITS  # noqa: E402


def load_all(path: Path) -> dict[str, dict[str, np.ndarray]]:
    with np.load(path, allow_pickle=False) as data:
        return {s: {k: data[f"{s}_{k}"] for k in ("raw", "x", "y")} for s in SPLITS}


def save(fig, path: Path) -> None:
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def plot_class_distribution(data, out: Path) -> None:
    fig, ax = plt.subplots(figsize=(9, 4))
    width = 0.27
    for k, split in enumerate(SPLITS):
        counts = np.bincount(data[split]["y"], minlength=len(LABELS))
        share = counts / counts.sum()
        ax.bar(np.arange(len(LABELS)) + (k - 1) * width, share, width, label=f"{split} (n={counts.sum()})")
    ax.set_xticks(range(len(LABELS)), LABELS)
    ax.set_ylabel("share of split")
    ax.set_title("Class distribution per split")
    ax.legend()
    save(fig, out / "class_distribution.png")


def plot_sample_grid(data, out: Path, per_class: int = 8) -> None:
    rng = np.random.default_rng(0)
    raw, y = data["Training"]["raw"], data["Training"]["y"]
    fig, axes = plt.subplots(len(LABELS), per_class, figsize=(per_class * 1.1, len(LABELS) * 1.2))
    for i, name in enumerate(LABELS):
        picks = rng.choice(np.flatnonzero(y == i), per_class, replace=False)
        for j, idx in enumerate(picks):
            axes[i, j].imshow(raw[idx], cmap="gray", vmin=0, vmax=255)
            axes[i, j].axis("off")
        axes[i, 0].set_title(name, fontsize=8, loc="left")
    save(fig, out / "samples_per_class.png")


def plot_intensity_histograms(data, out: Path) -> None:
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.5), sharey=True)
    raw, pre, y = data["Training"]["raw"], data["Training"]["x"], data["Training"]["y"]
    for ax, images, title in ((axes[0], raw, "raw pixels"), (axes[1], pre, "after CLAHE")):
        for i, name in enumerate(LABELS):
            hist = np.bincount(images[y == i].ravel(), minlength=256)
            ax.plot(hist / hist.sum(), label=name, lw=1)
        ax.set_title(f"Pixel intensity, {title}")
        ax.set_xlabel("intensity")
    axes[0].legend(fontsize=7)
    save(fig, out / "intensity_histograms.png")


def plot_mean_faces(data, out: Path) -> None:
    raw, y = data["Training"]["raw"], data["Training"]["y"]
    fig, axes = plt.subplots(1, len(LABELS), figsize=(len(LABELS) * 1.5, 1.9))
    for i, name in enumerate(LABELS):
        axes[i].imshow(raw[y == i].mean(axis=0), cmap="gray")
        axes[i].set_title(name, fontsize=8)
        axes[i].axis("off")
    save(fig, out / "mean_face_per_class.png")


def plot_clahe(data, out: Path, count: int = 6) -> None:
    raw, pre = data["Training"]["raw"], data["Training"]["x"]
    picks = np.random.default_rng(1).choice(len(raw), count, replace=False)
    fig, axes = plt.subplots(2, count, figsize=(count * 1.4, 3.2))
    for j, idx in enumerate(picks):
        for row, images in enumerate((raw, pre)):
            axes[row, j].imshow(images[idx], cmap="gray", vmin=0, vmax=255)
            axes[row, j].axis("off")
    axes[0, 0].set_title("raw", fontsize=8, loc="left")
    axes[1, 0].set_title("CLAHE", fontsize=8, loc="left")
    save(fig, out / "clahe_before_after.png")


def plot_augmentation(data, out: Path, variants: int = 7) -> None:
    from service.preprocessing import PreprocessConfig, to_model_input
    from training.config import TrainConfig
    from training.model import build_augmenter

    cfg = TrainConfig(erase=0.25)
    augment = build_augmenter(cfg)
    faces = to_model_input(data["Training"]["x"][:4], PreprocessConfig())
    fig, axes = plt.subplots(len(faces), variants + 1, figsize=((variants + 1) * 1.2, len(faces) * 1.25))
    for i, face in enumerate(faces):
        axes[i, 0].imshow(face[..., 0], cmap="gray", vmin=0, vmax=1)
        for j in range(1, variants + 1):
            axes[i, j].imshow(np.asarray(augment(face[None], training=True))[0, ..., 0], cmap="gray", vmin=0, vmax=1)
        for ax in axes[i]:
            ax.axis("off")
    axes[0, 0].set_title("input", fontsize=8)
    save(fig, out / "augmentation_examples.png")


def write_summary(data, out: Path) -> None:
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
    (out / "summary.md").write_text("\n".join(lines) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", type=Path, default=Path("data/processed/fer2013.npz"))
    parser.add_argument("--out", type=Path, default=Path("results/eda"))
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    data = load_all(args.data)
    for plot in (
        plot_class_distribution,
        plot_sample_grid,
        plot_intensity_histograms,
        plot_mean_faces,
        plot_clahe,
        plot_augmentation,
        write_summary,
    ):
        plot(data, args.out)
    print(f"wrote {sorted(p.name for p in args.out.iterdir())}")


if __name__ == "__main__":
    main()
