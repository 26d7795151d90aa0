"""An interrupted ``training.teach`` continues from its checkpoint to the very file an uninterrupted run
writes, teaching only what was left; a checkpoint of another command is refused."""

from __future__ import annotations

from pathlib import Path

import keras
import numpy as np
import pytest

import training.teach
from tests.support.npz import npz_arrays
from training.config import TrainConfig
from training.teach import teach

# One int8 member keeps the three runs short; 16-face chunks split the sample's 70 faces into 5.
TEACHER = [Path(__file__).resolve().parents[2] / "model_store" / "fer_cnn" / "1.1.0-int8"]
AUGMENT = TrainConfig(zoom=0.2)
VIEWS = 2


class Interrupted(Exception):
    """Stands for the machine being given up mid-run."""


@pytest.fixture(autouse=True)
def small_chunks(monkeypatch):
    keras.mixed_precision.set_global_policy("float32")
    monkeypatch.setattr(training.teach, "CHUNK", 16)


def counting_teacher(monkeypatch, stop_at: int | None = None) -> list[int]:
    """Count the teacher's calls on views (and on the flip check), raising ``Interrupted`` at call ``stop_at``."""
    calls: list[int] = []
    real = training.teach.mean_probs

    def mean_probs(members, x):
        calls.append(len(x))
        if len(calls) == stop_at:
            raise Interrupted
        return real(members, x)

    monkeypatch.setattr(training.teach, "mean_probs", mean_probs)
    return calls


def run(prepared_sample, out: Path, checkpoint: Path | None, seed: int = 3) -> dict:
    return teach(TEACHER, str(prepared_sample), out, VIEWS, seed, AUGMENT, checkpoint)


def test_an_interrupted_teach_continues_to_the_same_file(prepared_sample, tmp_path, monkeypatch):
    straight = run(prepared_sample, tmp_path / "straight.npz", None)
    checkpoint = tmp_path / "checkpoints" / "teacher.npz"
    # The flip check is 2 calls, each chunk one per view: the 7th is chunk 3's first view.
    calls = counting_teacher(monkeypatch, stop_at=7)
    with pytest.raises(Interrupted):
        run(prepared_sample, tmp_path / "resumed.npz", checkpoint)
    assert not (tmp_path / "resumed.npz").exists() and checkpoint.is_file()
    assert int(npz_arrays(checkpoint)["view_faces_done"]) == 32  # two chunks of 16 were saved
    calls = counting_teacher(monkeypatch)
    resumed = run(prepared_sample, tmp_path / "resumed.npz", checkpoint)
    assert calls == [16, 16, 16, 16, 6, 6]  # chunks 3-5, each on both views; no flip check again
    first, second = npz_arrays(tmp_path / "straight.npz"), npz_arrays(tmp_path / "resumed.npz")
    assert first.keys() == second.keys() and all(np.array_equal(first[k], second[k]) for k in first)
    untimed = [{k: v for k, v in r["views"].items() if k != "seconds_per_1000_face_views"} for r in (straight, resumed)]
    assert untimed[0] == untimed[1] and straight["members"] == resumed["members"]
    assert resumed["views"]["seconds_per_1000_face_views"] > 0


def test_a_finished_checkpoint_remakes_the_file_without_the_teacher(prepared_sample, tmp_path, monkeypatch):
    checkpoint = tmp_path / "teacher.npz"
    run(prepared_sample, tmp_path / "first.npz", checkpoint)
    calls = counting_teacher(monkeypatch)
    monkeypatch.setattr(training.teach, "ensemble_probs", lambda *_: pytest.fail("the clean splits were taught again"))
    run(prepared_sample, tmp_path / "again.npz", checkpoint)
    assert calls == []
    first, again = npz_arrays(tmp_path / "first.npz"), npz_arrays(tmp_path / "again.npz")
    assert all(np.array_equal(first[k], again[k]) for k in first)


def test_a_checkpoint_of_another_command_is_refused(prepared_sample, tmp_path):
    checkpoint = tmp_path / "teacher.npz"
    run(prepared_sample, tmp_path / "seed3.npz", checkpoint)
    with pytest.raises(ValueError, match="another teach command"):
        run(prepared_sample, tmp_path / "seed4.npz", checkpoint, seed=4)
