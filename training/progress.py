"""A run's per-epoch progress log, progress.csv, kept beside its checkpoint and committed with it.

One row per epoch: loss and accuracy on Training and PublicTest, learning rate, wall seconds and
the host, across every machine the run was on.
"""

from __future__ import annotations

import csv
import os
from pathlib import Path

PROGRESS_FILE = "progress.csv"
# host: the device and its compute precision, e.g. "AMD EPYC, bfloat16".
PROGRESS_FIELDS = ["epoch", "loss", "accuracy", "val_loss", "val_accuracy", "learning_rate", "seconds", "host"]


def read_progress(directory: Path) -> list[dict]:
    path = Path(directory) / PROGRESS_FILE
    if not path.is_file():
        return []
    with path.open() as handle:
        return list(csv.DictReader(handle))


def append_progress(directory: Path, row: dict) -> None:
    path = Path(directory) / PROGRESS_FILE
    path.parent.mkdir(parents=True, exist_ok=True)  # the first epoch's row comes before its checkpoint
    _write_rows(path, "a", [row], header=not path.is_file())


def trim_progress(directory: Path, epochs_done: int) -> None:
    """Drop the rows of epochs the checkpoint does not hold: the machine went after a row was
    written and before its checkpoint was, so that epoch is trained, and logged, again."""
    rows = read_progress(directory)
    kept = [row for row in rows if int(row["epoch"]) < epochs_done]
    if len(kept) < len(rows):
        path = Path(directory) / PROGRESS_FILE
        partial = path.with_suffix(".partial.csv")
        _write_rows(partial, "w", kept, header=True)
        os.replace(partial, path)


def _write_rows(path: Path, mode: str, rows: list[dict], header: bool) -> None:
    with path.open(mode, newline="") as handle:
        writer = csv.DictWriter(handle, PROGRESS_FIELDS)
        if header:
            writer.writeheader()
        writer.writerows(rows)


def progress_timing(directory: Path) -> dict:
    """Wall seconds, epochs and hosts of a run, from its progress log (every machine it was on)."""
    progress = read_progress(directory)
    return {
        "wall_time_s": round(sum(float(row["seconds"]) for row in progress)),
        "epochs": len(progress),
        "hosts": sorted({row["host"] for row in progress}),
    }
