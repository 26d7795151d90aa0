"""training.export's record of the stage a fine-tuned run started from, whatever of it is left."""

from __future__ import annotations

import json
from pathlib import Path

from training.export import run_record


def write_run(folder: Path, name: str, init_weights: str = "") -> Path:
    folder.mkdir(parents=True)
    config = {"name": name, "runs_dir": str(folder.parent), "init_weights": init_weights}
    (folder / "config.json").write_text(json.dumps(config))
    return folder


def test_a_stage_started_from_a_deleted_checkpoint_is_found_in_its_run_folder(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    write_run(runs / "stage1", "stage1")
    stage2 = write_run(runs / "stage2", "stage2", str(tmp_path / "checkpoints" / "stage1"))  # never written here
    record = run_record(stage2)["initialised_from"]
    assert record["run"] == str(runs / "stage1") and record["config"]["name"] == "stage1"


def test_a_stage_started_from_weights_names_their_run(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    write_run(runs / "stage1", "stage1")
    stage2 = write_run(runs / "stage2", "stage2", str(runs / "stage1" / "last.weights.h5"))
    assert run_record(stage2)["initialised_from"]["config"]["name"] == "stage1"


def test_a_stage_started_from_weights_in_its_checkpoint_folder_is_found_in_its_run_folder(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    write_run(runs / "stage1", "stage1")
    best = tmp_path / "checkpoints" / "stage1" / "best.weights.h5"  # committed beside the checkpoint, no config
    stage2 = write_run(runs / "stage2", "stage2", str(best))
    assert run_record(stage2)["initialised_from"]["run"] == str(runs / "stage1")


def test_a_start_with_no_record_left_says_so(tmp_path: Path) -> None:
    gone = str(tmp_path / "checkpoints" / "stage1")
    stage2 = write_run(tmp_path / "runs" / "stage2", "stage2", gone)
    assert run_record(stage2)["initialised_from"] == {
        "init_weights": gone,
        "record": "none left on the machine that exported",
    }
