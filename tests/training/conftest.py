"""Fixtures for the training package: the committed FER-2013 sample, prepared once per session."""

from __future__ import annotations

from pathlib import Path

import pytest

from service.preprocessing import PreprocessConfig
from training.prepare import prepare

SAMPLE = Path(__file__).resolve().parents[1] / "fixtures" / "fer2013"


@pytest.fixture(scope="session")
def sample_dir() -> Path:
    return SAMPLE


@pytest.fixture(scope="session")
def prepared_sample(tmp_path_factory) -> Path:
    """The committed sample run through training.prepare into a temporary .npz."""
    out = tmp_path_factory.mktemp("prepared") / "sample.npz"
    prepare(SAMPLE, out, PreprocessConfig())
    return out


@pytest.fixture(scope="session")
def sample_crops(prepared_sample, tmp_path_factory) -> Path:
    """The detector crops of the sample's 70 planted Training faces (training.detector_crops, ~2 s)."""
    from training.detector_crops import main

    out = tmp_path_factory.mktemp("crops") / "detector_crops.npz"
    main(["--data", str(prepared_sample), "--out", str(out), "--workers", "1"])
    return out


# The distillation tests' teacher: fer_cnn 1.1.0 and its int8 variant, averaged.
TEACHERS = [Path(__file__).resolve().parents[2] / "model_store" / "fer_cnn" / v for v in ("1.1.0", "1.1.0-int8")]


@pytest.fixture(scope="session")
def views_teacher(prepared_sample, tmp_path_factory) -> tuple[Path, dict]:
    """The teacher on the sample with 2 views of each Training face, made with the distill student's
    augmentation (zoom 0.2) and seed 3 (~15 s): its file and its record."""
    from training.config import TrainConfig
    from training.teach import teach

    out = tmp_path_factory.mktemp("views_teacher") / "teacher.npz"
    return out, teach(TEACHERS, str(prepared_sample), out, views=2, view_seed=3, augment=TrainConfig(zoom=0.2))
