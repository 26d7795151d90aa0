"""Runs that survive interruption: 1 epoch + resume + 1 ends where 2 epochs straight end."""

from __future__ import annotations

import json
import shutil
from dataclasses import replace

import numpy as np
import pytest

from tests.support.configs import tiny_config
from training import checkpoint
from training import train as train_module
from training.checkpoint import (
    CHECKPOINT_FILE,
    STATE_ARRAY,
    STATE_FILE,
    Checkpointing,
    from_bfloat16_bits,
    read_state,
    resumable_state,
    to_bfloat16_bits,
)
from training.config import TrainConfig
from training.progress import read_progress
from training.train import load_classifier, main, train

pytestmark = pytest.mark.slow


class MachineReclaimed(Exception):
    """Raised right after the first epoch's checkpoint is written: the machine goes away."""


def sample_config(prepared_sample, tmp_path, name: str, moments: str) -> TrainConfig:
    saving = {"checkpoint_dir": str(tmp_path / "checkpoints"), "checkpoint_moments": moments}
    return tiny_config(prepared_sample, tmp_path / "runs", name, epochs=2, histograms=False, **saving)


def interrupted_then_resumed(cfg: TrainConfig, monkeypatch) -> None:
    """Train until the first checkpoint, lose the machine-local run folder, resume from the checkpoint."""
    saved = Checkpointing.on_epoch_end

    def save_then_stop(self, epoch, logs=None):
        saved(self, epoch, logs)
        raise MachineReclaimed

    with monkeypatch.context() as patch:
        patch.setattr(Checkpointing, "on_epoch_end", save_then_stop)
        with pytest.raises(MachineReclaimed):
            train(cfg, verbose=0)
    shutil.rmtree(cfg.run_dir)  # a new machine has only what was committed
    # A resume trains in the precision measured faster on its host; these tests compare weights, so the
    # resumed half keeps the first half's precision on every host (on one with AMX, float32 became bfloat16).
    monkeypatch.setattr(train_module, "bf16_is_faster", lambda: cfg.mixed_precision)
    main(["--resume", str(cfg.checkpoint_path)])


def stored_arrays(cfg: TrainConfig) -> dict[str, np.ndarray]:
    with np.load(cfg.checkpoint_path / CHECKPOINT_FILE) as data:
        return {name: data[name] for name in data.files}


def max_weight_gap(a: dict, b: dict) -> float:
    names = [n for n in a if n.startswith("weight_")]
    assert names and names == [n for n in b if n.startswith("weight_")]
    return max(float(np.abs(a[n] - b[n]).max()) for n in names)


@pytest.mark.parametrize(
    ("moments", "tolerance"),
    # float32 moments: the same arithmetic, so the same weights up to float32 summation order.
    # bfloat16 moments: each moment rounded once at the hand-over (relative error <= 2^-9), which
    # moves an Adam step by at most about that fraction of the learning rate (1e-3) per step.
    [("float32", 1e-6), ("bfloat16", 1e-4)],
)
def test_resumed_run_ends_with_the_weights_of_an_uninterrupted_one(
    prepared_sample, tmp_path, monkeypatch, moments, tolerance
):
    straight = sample_config(prepared_sample, tmp_path, "straight", moments)
    train(straight, verbose=0)
    resumed = sample_config(prepared_sample, tmp_path, "resumed", moments)
    interrupted_then_resumed(resumed, monkeypatch)

    a, b = stored_arrays(straight), stored_arrays(resumed)
    assert max_weight_gap(a, b) < tolerance
    first_weights = sample_config(prepared_sample, tmp_path / "one", "one", moments)
    first_weights.epochs = 1
    assert max_weight_gap(a, stored_arrays(train_and_return(first_weights))) > 100 * tolerance
    rows = read_progress(resumed.checkpoint_path)
    assert [row["epoch"] for row in rows] == ["0", "1"]
    precision = "bfloat16" if resumed.mixed_precision else "float32"
    assert all(row["host"].endswith(f", {precision}") for row in rows)
    straight_rows = read_progress(straight.checkpoint_path)
    assert [row["val_accuracy"] for row in rows] == [row["val_accuracy"] for row in straight_rows]


def test_a_paired_run_resumed_draws_the_partners_and_ends_with_the_weights_of_an_uninterrupted_one(
    prepared_sample, sample_crops, tmp_path, monkeypatch
):
    pairs = {"paired_crops": str(sample_crops), "consistency": 1.0}
    paired, resumed = straight_and_resumed(prepared_sample, tmp_path, monkeypatch, **pairs)
    assert max_weight_gap(paired, resumed) < 1e-6
    single = train_and_return(sample_config(prepared_sample, tmp_path, "single", "float32"))
    assert max_weight_gap(paired, stored_arrays(single)) > 1e-3  # the pairs changed what was learnt


def test_a_run_on_teacher_views_resumed_draws_the_views_and_ends_with_the_weights_of_an_uninterrupted_one(
    prepared_sample, views_teacher, tmp_path, monkeypatch
):
    # K=2 views, so the resumed second epoch must draw each face's other view, as the straight run did.
    views = {"teacher": str(views_teacher[0]), "teacher_views": True, "zoom": 0.2}
    on_views, resumed = straight_and_resumed(prepared_sample, tmp_path, monkeypatch, **views)
    assert max_weight_gap(on_views, resumed) < 1e-6
    clean = replace(sample_config(prepared_sample, tmp_path, "clean", "float32"), teacher=views["teacher"], zoom=0.2)
    assert max_weight_gap(on_views, stored_arrays(train_and_return(clean))) > 1e-3  # the views changed what was learnt


def straight_and_resumed(prepared_sample, tmp_path, monkeypatch, **overrides) -> tuple:
    """The stored weights of a 2-epoch run straight through and of one interrupted after epoch 1 and resumed."""
    straight = replace(sample_config(prepared_sample, tmp_path, "straight", "float32"), **overrides)
    train(straight, verbose=0)
    resumed = replace(sample_config(prepared_sample, tmp_path, "resumed", "float32"), **overrides)
    interrupted_then_resumed(resumed, monkeypatch)
    return stored_arrays(straight), stored_arrays(resumed)


def train_and_return(cfg: TrainConfig) -> TrainConfig:
    train(cfg, verbose=0)
    return cfg


def test_a_run_finished_on_a_machine_that_is_gone_gets_its_last_weights_back_from_its_checkpoint(
    prepared_sample, tmp_path, monkeypatch
):
    cfg = sample_config(prepared_sample, tmp_path, "finished", "float32")
    train(cfg, verbose=0)
    faces = np.random.default_rng(0).integers(0, 256, (8, 48, 48, 1)).astype(np.float32)
    before = load_classifier(cfg.run_dir, "last.weights.h5").predict(faces, verbose=0)
    shutil.rmtree(cfg.run_dir)  # a new machine has only what was committed
    monkeypatch.setattr(train_module, "bf16_is_faster", lambda: cfg.mixed_precision)
    main(["--resume", str(cfg.checkpoint_path)])
    after = load_classifier(cfg.run_dir, "last.weights.h5").predict(faces, verbose=0)
    assert np.abs(after - before).max() < 1e-6
    assert [row["epoch"] for row in read_progress(cfg.checkpoint_path)] == ["0", "1"]  # no epoch trained again


def test_new_run_refuses_to_overwrite_a_checkpoint(prepared_sample, tmp_path):
    cfg = sample_config(prepared_sample, tmp_path, "twice", "bfloat16")
    cfg.epochs = 1
    train(cfg, verbose=0)
    with pytest.raises(FileExistsError, match="--resume"):
        train(cfg, verbose=0)


def test_bfloat16_bits_round_to_nearest_and_keep_float32_range():
    values = np.array([1.0, -2.5, 1e-30, 3e38, 1.00390625, 1.01171875], np.float32)
    back = from_bfloat16_bits(to_bfloat16_bits(values))
    assert np.all(np.abs(back - values) <= np.abs(values) * 2.0**-8)
    assert back[4] == 1.0 and back[5] == 1.015625  # ties go to the even mantissa
    assert checkpoint.to_bfloat16_bits(values).dtype == np.uint16


def test_resume_keeps_the_best_weights_counter_only_where_those_weights_are(tmp_path):
    cfg = TrainConfig(name="run", runs_dir=str(tmp_path / "runs"), checkpoint_dir=str(tmp_path / "checkpoints"))
    cfg.checkpoint_path.mkdir(parents=True)
    counters = {"best": {"best": 0.5}, "early_stopping": {"wait": 1.0, "best": 0.5}}
    (cfg.checkpoint_path / STATE_FILE).write_text(json.dumps({"epoch": 2, "step": 6, "callbacks": counters}))
    assert resumable_state(cfg, resume=True)["callbacks"] == {"early_stopping": {"wait": 1.0, "best": 0.5}}
    cfg.run_dir.mkdir(parents=True)
    (cfg.run_dir / "best.weights.h5").write_bytes(b"")  # the same machine: a later epoch must beat 0.5
    assert resumable_state(cfg, resume=True)["callbacks"] == counters


def test_the_state_saved_inside_the_checkpoint_wins_over_a_stale_state_file(tmp_path):
    # The machine went after the checkpoint was replaced and before state.json was rewritten.
    arrays = {"weight_0": np.zeros(2, np.float32), STATE_ARRAY: np.array(json.dumps({"epoch": 3, "step": 9}))}
    np.savez(tmp_path / CHECKPOINT_FILE, **arrays)
    (tmp_path / STATE_FILE).write_text(json.dumps({"epoch": 2, "step": 6}))
    assert read_state(tmp_path) == {"epoch": 3, "step": 9}


def test_a_checkpoint_written_before_it_held_its_state_reads_the_state_file(tmp_path):
    np.savez(tmp_path / CHECKPOINT_FILE, weight_0=np.zeros(2, np.float32))
    (tmp_path / STATE_FILE).write_text(json.dumps({"epoch": 2, "step": 6}))
    assert read_state(tmp_path) == {"epoch": 2, "step": 6}


def test_a_machine_gone_between_the_progress_row_and_the_checkpoint_logs_that_epoch_once(
    prepared_sample, tmp_path, monkeypatch
):
    cfg = sample_config(prepared_sample, tmp_path, "cut", "float32")
    saved, calls = checkpoint.save_checkpoint, []

    def second_save_never_happens(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise MachineReclaimed
        saved(*args, **kwargs)

    with monkeypatch.context() as patch:
        patch.setattr(checkpoint, "save_checkpoint", second_save_never_happens)
        with pytest.raises(MachineReclaimed):
            train(cfg, verbose=0)
    assert [row["epoch"] for row in read_progress(cfg.checkpoint_path)] == ["0", "1"]  # epoch 1's row, no checkpoint
    main(["--resume", str(cfg.checkpoint_path)])
    assert [row["epoch"] for row in read_progress(cfg.checkpoint_path)] == ["0", "1"]
    assert read_state(cfg.checkpoint_path)["epoch"] == 2
