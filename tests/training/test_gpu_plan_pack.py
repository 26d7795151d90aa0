"""The GPU session's plan checks, the deadline, and what comes back (choice, parts, unpacking): no training."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from training.callbacks import StopBeforeDeadline
from training.gpu import pack as pack_module
from training.gpu.pack import FINISHED, STOPPED, RunResult, choose, pack, tar_bytes, wanted_files
from training.gpu.plan import DEFAULT_PLAN, load_plan
from training.gpu.unpack import unpack


def write_plan(tmp_path: Path, runs: str) -> Path:
    path = tmp_path / "plan.toml"
    path.write_text("budget_s = 100\n" + runs)
    return path


def test_the_committed_plan_is_valid_and_carries_only_the_teacher():
    plan = load_plan(DEFAULT_PLAN)
    members = ["fer_cnn_g5", "fer_cnn_g5_ft", "fer_cnn_g6", "fer_cnn_g6_ft"]
    assert plan.budget_s < 600 and [run.name for run in plan.runs] == [*members, "student_vgg16_gpu"]
    assert plan.carried_files() == ["data/processed/teacher.npz"]


@pytest.mark.parametrize(
    ("runs", "message"),
    [
        ('[[runs]]\nname = "a"\nargs = ["--data", "x.npz"]\n', "runner's to set"),
        ('[[runs]]\nname = "a"\nargs = ["--init_weights", "runs/b/last.weights.h5"]\n', "not an earlier run"),
        ('[[runs]]\nname = "a"\nargs = ["--optimizer", "adamw"]\n', "rejects its arguments"),
        ('[[runs]]\nname = "a/b"\nargs = []\n', "letters, digits"),
        ('[[runs]]\nname = "a"\nargs = ["--teacher", "/abs/t.npz"]\n', "relative"),
    ],
)
def test_a_plan_the_device_would_fail_on_fails_here(tmp_path, runs, message):
    with pytest.raises(ValueError, match=message):
        load_plan(write_plan(tmp_path, runs))


class FakeModel:
    stop_training = False


@pytest.mark.parametrize(("epoch_seconds", "stops"), [(10.0, False), (30.0, True)])
def test_training_stops_when_the_next_epoch_would_end_past_the_deadline(monkeypatch, epoch_seconds, stops):
    clock = iter([1000.0, 1000.0 + epoch_seconds])
    monkeypatch.setattr("training.callbacks.time.time", lambda: next(clock))
    callback = StopBeforeDeadline(deadline=1000.0 + 50.0)
    callback.set_model(FakeModel())
    callback.on_epoch_begin(0)
    callback.on_epoch_end(0)
    assert callback.model.stop_training is stops and (callback.stopped_epoch == 0) is stops


def test_choose_keeps_priority_order_and_skips_what_does_not_fit():
    sized = [(3, "last", 600), (0, "config", 100), (1, "best", 600), (1, "student", 100)]
    taken, left = choose(sized, budget=3 * 512 + 1536 + 512 + 512)  # headers, and data in 512-byte blocks
    assert taken == ["config", "best", "student"] and left == ["last"]


def fake_run(work: Path, name: str, weights: bytes, last: bytes, checkpoint: bool = False) -> None:
    folder = work / "runs" / name
    folder.mkdir(parents=True)
    (folder / "config.json").write_text("{}")
    (folder / "best.weights.h5").write_bytes(weights)
    (folder / "last.weights.h5").write_bytes(last)
    state = work / "checkpoints" / name
    state.mkdir(parents=True)
    (state / "state.json").write_text(json.dumps({"epoch": 3}))
    if checkpoint:
        (state / "checkpoint.npz").write_bytes(b"c" * 3000)


@pytest.fixture
def device_work(tmp_path) -> tuple[Path, list[RunResult]]:
    """Three runs as the device leaves them: a stage, its finished second stage, a run stopped for time."""
    work = tmp_path / "work"
    fake_run(work, "stage1", b"1" * 2000, b"2" * 2000)
    fake_run(work, "stage2", b"3" * 2000, b"3" * 2000)  # the best epoch was the last
    fake_run(work, "other", b"4" * 2000, b"5" * 2000, checkpoint=True)
    runs = [RunResult("stage1", FINISHED), RunResult("stage2", FINISHED, source_run="stage1")]
    return work, runs + [RunResult("other", STOPPED)]


def test_wanted_files_skip_superseded_stages_and_duplicate_weights(device_work):
    work, runs = device_work
    wanted = wanted_files(work, runs)
    assert (1, "runs/stage2/best.weights.h5") in wanted and (2, "checkpoints/other/checkpoint.npz") in wanted
    assert not [path for _, path in wanted if path.startswith("runs/stage1/") and path.endswith(".h5")]
    assert (3, "runs/stage2/last.weights.h5") not in wanted  # the same bytes as best


def test_parts_join_and_unpack_into_runs_and_resumable_checkpoints(device_work, tmp_path, monkeypatch):
    work, runs = device_work
    monkeypatch.setattr(pack_module, "PART_BYTES", 4096)  # several parts from a small archive
    manifest = pack(work, runs, tmp_path / "out", budget_s=100)
    assert len(manifest["archive"]["parts"]) > 1 and not manifest["left_behind"]
    counted = sum(tar_bytes((work / path).stat().st_size) for path in manifest["brought"])
    assert counted < manifest["archive"]["bytes"] <= counted + 10240  # the end blocks, padded to a record
    here = tmp_path / "here"
    unpack(tmp_path / "out", here / "runs", here / "results" / "checkpoints")
    assert (here / "runs/stage2/best.weights.h5").read_bytes() == b"3" * 2000
    assert (here / "runs/stage1/checkpoint/state.json").is_file()  # finished: the record beside the run
    assert (here / "results/checkpoints/other/checkpoint.npz").read_bytes() == b"c" * 3000  # stopped: resumable
    assert json.loads((tmp_path / "out" / "manifest.json").read_text())["runs"][2]["epochs"] == 3


def test_unpack_refuses_parts_that_do_not_join(device_work, tmp_path):
    work, runs = device_work
    pack(work, runs, tmp_path / "out", budget_s=100)
    part = tmp_path / "out" / "results.tar.00"
    part.write_bytes(part.read_bytes()[:-1])
    with pytest.raises(SystemExit, match="do not join"):
        unpack(tmp_path / "out", tmp_path / "runs", tmp_path / "checkpoints")
