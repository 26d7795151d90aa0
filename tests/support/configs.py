"""The tiny training run the tests fit on the committed sample: seconds, not hours."""

from __future__ import annotations

from pathlib import Path

from training.config import TrainConfig


def tiny_config(data: Path, runs: Path, name: str, **overrides) -> TrainConfig:
    """Two narrow VGG blocks, one float32 epoch of 32-face batches; ``overrides`` set the rest."""
    base = {"widths": (8, 16), "dense_units": 16, "epochs": 1, "batch_size": 32, "mixed_precision": False}
    return TrainConfig(**{"name": name, "data": str(data), "runs_dir": str(runs), **base, **overrides})
