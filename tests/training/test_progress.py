"""The progress log: a resume drops the rows of epochs its checkpoint does not hold."""

from __future__ import annotations

from training.progress import PROGRESS_FILE, append_progress, progress_timing, read_progress, trim_progress


def logged(folder, epochs: int) -> None:
    for epoch in range(epochs):
        append_progress(folder, {"epoch": epoch, "val_accuracy": f"0.{epoch}", "seconds": 10.5, "host": "CPU, float32"})


def test_trim_drops_the_rows_of_epochs_after_the_checkpoint(tmp_path):
    logged(tmp_path, 3)  # the machine went after epoch 2's row and before its checkpoint
    trim_progress(tmp_path, epochs_done=2)
    assert [row["epoch"] for row in read_progress(tmp_path)] == ["0", "1"]
    assert [row["val_accuracy"] for row in read_progress(tmp_path)] == ["0.0", "0.1"]
    assert not list(tmp_path.glob("*.partial.csv"))


def test_trim_leaves_a_log_that_matches_the_checkpoint_untouched(tmp_path):
    logged(tmp_path, 2)
    before = (tmp_path / PROGRESS_FILE).stat().st_mtime_ns
    trim_progress(tmp_path, epochs_done=2)
    assert (tmp_path / PROGRESS_FILE).stat().st_mtime_ns == before
    assert len(read_progress(tmp_path)) == 2


def test_timing_sums_every_row(tmp_path):
    logged(tmp_path, 3)
    assert progress_timing(tmp_path) == {"wall_time_s": 32, "epochs": 3, "hosts": ["CPU, float32"]}
