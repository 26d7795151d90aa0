"""training.tune: best-epoch reading and the markdown table."""

from pathlib import Path

from training.config import TrainConfig
from training.tune import read_best_epoch, to_markdown

HISTORY = "epoch,accuracy,val_accuracy,val_acc_disgust\n0,0.30,0.35,0.00\n1,0.45,0.48,0.20\n2,0.50,0.46,0.40\n"


def test_read_best_epoch_picks_the_highest_val_accuracy(tmp_path: Path) -> None:
    (tmp_path / "history.csv").write_text(HISTORY)
    best = read_best_epoch(tmp_path)
    assert best == {"epoch": 2, "val_accuracy": 0.48, "val_disgust_recall": 0.20, "train_accuracy": 0.45}


def test_to_markdown_sorts_the_grid_best_first() -> None:
    row = {"val_disgust_recall": 0.1, "train_accuracy": 0.5, "seconds": 1.0, "epoch": 1}
    grid = [{"optimizer": "sgd", "lr": 0.01, "val_accuracy": 0.40, **row}]
    grid.append({"optimizer": "adam", "lr": 0.001, "val_accuracy": 0.55, **row})
    weights = [{"class_weights": "none", "val_accuracy": 0.5, **row}]
    text = to_markdown(grid, weights, TrainConfig(epochs=6, limit_train=10000))
    assert text.index("| adam | 0.001 | 0.5500") < text.index("| sgd | 0.01 | 0.4000")
    assert "| none | 0.5000 | 0.100 |" in text and "6 epochs on 10000" in text
