"""``python -m training.train --resume``: the saved config, with what belongs to the new host."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

import pytest

from training import train as train_module
from training.checkpoint import STATE_FILE
from training.config import TrainConfig


def saved_run(tmp_path: Path, mixed_precision: bool) -> Path:
    """A checkpoint folder as another machine committed it (only its state file matters here)."""
    folder = tmp_path / "committed" / "member"
    folder.mkdir(parents=True)
    cfg = TrainConfig(name="member", seed=10, epochs=32, mixed_precision=mixed_precision)
    (folder / STATE_FILE).write_text(json.dumps({"config": asdict(cfg), "epoch": 26}))
    return folder


@pytest.mark.parametrize("started_in_bfloat16", [True, False])
@pytest.mark.parametrize("host_prefers_bfloat16", [True, False])
def test_resume_keeps_the_run_config_but_takes_the_precision_measured_faster_here(
    tmp_path, monkeypatch, started_in_bfloat16, host_prefers_bfloat16
):
    calls: list[tuple[TrainConfig, bool]] = []
    monkeypatch.setattr(train_module, "train", lambda cfg, verbose, resume: calls.append((cfg, resume)))
    monkeypatch.setattr(train_module, "bf16_is_faster", lambda: host_prefers_bfloat16)
    folder = saved_run(tmp_path, started_in_bfloat16)

    train_module.main(["--resume", str(folder)])

    [(cfg, resume)] = calls
    assert resume is True
    assert cfg.mixed_precision is host_prefers_bfloat16
    assert (cfg.name, cfg.seed, cfg.epochs) == ("member", 10, 32)
    assert cfg.checkpoint_dir == str(folder.parent)


def test_resume_refuses_a_folder_renamed_from_its_run(tmp_path, monkeypatch):
    monkeypatch.setattr(train_module, "train", lambda *args, **kwargs: pytest.fail("must not train"))
    folder = saved_run(tmp_path, False)
    renamed = folder.rename(folder.with_name("other"))
    with pytest.raises(SystemExit, match="must keep the run's name"):
        train_module.main(["--resume", str(renamed)])
