"""Shared fixtures for the deployment checks."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def tracked_files(*paths: str, untracked: bool = False) -> list[str]:
    """Files under paths that git tracks (plus, with untracked, new files it does not ignore):
    a checkout without local leftovers such as .venv, data or half-exported models."""
    extra = ["--others", "--exclude-standard"] if untracked else []
    out = subprocess.run(
        ["git", "ls-files", "--cached", *extra, "--", *paths],
        cwd=REPO,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return [f for f in out.splitlines() if (REPO / f).is_file()]


@pytest.fixture(scope="session")
def model_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the committed model_store/; the service serves its newest version."""
    store = tmp_path_factory.mktemp("model_store")
    files = tracked_files("model_store")
    assert any(f.endswith("model.onnx") for f in files), "no committed model under model_store/"
    for rel in files:
        target = store / Path(rel).relative_to("model_store")
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO / rel, target)
    return store


def binary(name: str, hint: str) -> str:
    """Path of a required executable, next to the interpreter first (pip console scripts).

    A missing tool fails the test rather than skipping it: .ci/run installs every one of them,
    so a skip would only hide a check that did not run."""
    beside = Path(sys.executable).parent / name
    found = str(beside) if beside.exists() else shutil.which(name)
    if not found:
        pytest.fail(f"{name} not installed: {hint}")
    return found
