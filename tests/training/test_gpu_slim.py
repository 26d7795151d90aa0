"""Slimming the tree a device call sends, and putting it back exactly, in a throwaway repository."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from training.gpu.slim import slim_off, slim_on, travel_bytes


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True, text=True).stdout


@pytest.fixture
def repo(tmp_path) -> Path:
    """Code, a large model file and a checkpoint committed; a local edit and an untracked file on top."""
    repo = tmp_path / "repo"
    for name, size in [("training/train.py", 10), ("service/app.py", 10), ("model_store/m.onnx", 5000)]:
        (repo / name).parent.mkdir(parents=True, exist_ok=True)
        (repo / name).write_bytes(b"x" * size)
    (repo / "results/checkpoints/run").mkdir(parents=True)
    (repo / "results/checkpoints/run/checkpoint.npz").write_bytes(b"c" * 3000)
    (repo / "README.md").write_text("readme\n")
    git(repo.parent, "init", "-q", str(repo))
    git(repo, "add", ".")
    git(repo, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", "start")
    (repo / "README.md").write_text("edited\n")
    (repo / "notes.txt").write_text("untracked\n")
    exclude = repo / ".git/info/exclude"
    exclude.write_text(exclude.read_text() + "/.whl/")  # no final newline: `off` must keep it so
    return repo


def snapshot(repo: Path) -> tuple[str, str, bytes]:
    status = git(repo, "status", "--porcelain=v2", "--ignored", "--untracked-files=all")
    return status, git(repo, "ls-files", "-s"), (repo / ".git/info/exclude").read_bytes()


def test_on_sends_only_the_code_and_off_restores_index_and_excludes(repo):
    before = snapshot(repo)
    sent_before = travel_bytes(repo, [])
    assert sorted(slim_on(repo)) == ["README.md", "model_store", "results"]
    assert {path.split("/")[0] for path in git(repo, "ls-files").split()} == {"training", "service"}
    assert travel_bytes(repo, []) == 20 + len("untracked\n") < sent_before  # the code and the untracked file
    assert travel_bytes(repo, ["results"]) == travel_bytes(repo, []) + 3000  # a carried folder counts
    with pytest.raises(SystemExit, match="already on"):
        slim_on(repo)
    slim_off(repo)
    assert snapshot(repo) == before


def test_off_refuses_after_a_commit(repo):
    slim_on(repo)
    git(repo, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", "oops")
    with pytest.raises(SystemExit, match="HEAD moved"):
        slim_off(repo)


def test_on_refuses_staged_changes_it_would_lose(repo):
    git(repo, "add", "README.md")
    with pytest.raises(SystemExit, match="staged changes"):
        slim_on(repo)
