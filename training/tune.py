"""Stage 2b: learning-rate x optimizer grid (and a class-weight comparison) on a fixed budget.

    python -m training.tune --epochs 6 --limit_train 10000   # ~40 min on 2 CPU cores

Every run uses the same proxy network (the committed architecture at half width), epochs and
training subset, and is scored on the full PublicTest split. Shorter budgets (3 epochs on 4k
images) leave every run near chance, which ranks nothing. Writes results/tune.json and results/tune.md.
"""

from __future__ import annotations

import argparse
import csv
import json
import time
from dataclasses import replace
from pathlib import Path

from training.config import TrainConfig
from training.train import train

GRID_LRS = (1e-3, 3e-3, 1e-2, 3e-2)  # spans both optimizers' usual ranges (Adam low, SGD high)
GRID_OPTIMIZERS = ("adam", "sgd")
CLASS_WEIGHT_MODES = ("none", "sqrt", "balanced")


def read_best_epoch(run_dir: Path) -> dict[str, float]:
    """The epoch with the best PublicTest accuracy, from the run's history.csv."""
    with (run_dir / "history.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    best = max(rows, key=lambda r: float(r["val_accuracy"]))
    return {
        "epoch": int(best["epoch"]) + 1,
        "val_accuracy": float(best["val_accuracy"]),
        "val_disgust_recall": float(best["val_acc_disgust"]),
        "train_accuracy": float(best["accuracy"]),
    }


def run_one(base: TrainConfig, **overrides) -> dict:
    cfg = replace(base, **overrides)
    cfg.name = "tune/" + "_".join(f"{k}-{v}" for k, v in overrides.items())
    started = time.time()
    train(cfg, verbose=0)
    result = {**overrides, **read_best_epoch(cfg.run_dir), "seconds": round(time.time() - started, 1)}
    print(json.dumps(result), flush=True)
    return result


def to_markdown(grid: list[dict], weights: list[dict], base: TrainConfig) -> str:
    lines = [
        "# Tuning results",
        "",
        f"Fixed budget per run: {base.epochs} epochs on {base.limit_train} Training images, proxy net "
        f"widths {list(base.widths)} x{base.convs_per_block} convs, batch {base.batch_size}, cosine schedule. "
        "Scored on all 3,589 PublicTest images (best epoch).",
        "",
        "## Learning rate x optimizer",
        "",
        "| optimizer | lr | val accuracy | val disgust recall | train accuracy | seconds |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for r in sorted(grid, key=lambda r: -r["val_accuracy"]):
        lines.append(
            f"| {r['optimizer']} | {r['lr']:g} | {r['val_accuracy']:.4f} | {r['val_disgust_recall']:.3f} "
            f"| {r['train_accuracy']:.4f} | {r['seconds']} |"
        )
    lines += [
        "",
        "## Class weights (best optimizer and lr)",
        "",
        "| class_weights | val accuracy | val disgust recall |",
        "|---|---:|---:|",
    ]
    for r in weights:
        lines.append(f"| {r['class_weights']} | {r['val_accuracy']:.4f} | {r['val_disgust_recall']:.3f} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--limit_train", type=int, default=10000)
    parser.add_argument("--out", type=Path, default=Path("results"))
    args = parser.parse_args()
    base = TrainConfig(
        epochs=args.epochs,
        limit_train=args.limit_train,
        widths=(32, 64, 128, 256),  # half-width proxy net so the grid fits a fixed CPU budget
        histograms=False,
        early_stopping_patience=args.epochs,
        bn_momentum=0.9,  # runs of ~500 steps: BatchNorm statistics must keep up with the weights
    )
    grid = [run_one(base, optimizer=opt, lr=lr) for opt in GRID_OPTIMIZERS for lr in GRID_LRS]
    best = max(grid, key=lambda r: r["val_accuracy"])
    tuned = replace(base, optimizer=best["optimizer"], lr=best["lr"])
    weights = [run_one(tuned, class_weights=mode) for mode in CLASS_WEIGHT_MODES]
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "tune.json").write_text(json.dumps({"grid": grid, "class_weights": weights}, indent=2) + "\n")
    (args.out / "tune.md").write_text(to_markdown(grid, weights, base))
    print(to_markdown(grid, weights, base))


if __name__ == "__main__":
    main()
