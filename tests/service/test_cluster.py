"""``fer analyze --ray``: on a local Ray instance (2 CPUs, no dashboard), the committed photos and a
generated clip give the rows of the in-process run, and bad files give error rows, not a failed job.

Ray is the ``cluster`` extra, which ``make test`` installs: these tests import it and never skip.
"""

from __future__ import annotations

import csv
import io
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import ray
from typer.testing import CliRunner

from service.cli import app
from service.cluster.job import actor_settings
from service.settings import Settings

REPO_ROOT = Path(__file__).resolve().parents[2]
PHOTOS = REPO_ROOT / "tests/fixtures/photos"
MODEL_STORE = REPO_ROOT / "model_store"
runner = CliRunner()


@pytest.fixture(scope="module", autouse=True)
def local_ray() -> Iterator[None]:
    """One Ray instance for the module; ``--ray`` without an address finds it initialised and leaves it running."""
    ray.init(num_cpus=2, include_dashboard=False)
    yield
    ray.shutdown()


@pytest.fixture(autouse=True)
def _committed_model(monkeypatch: pytest.MonkeyPatch) -> None:
    """As test_cli: the committed model, one ONNX Runtime thread (so rows agree to the last digit)."""
    monkeypatch.setenv("FER_MODEL_STORE", str(MODEL_STORE))
    monkeypatch.setenv("FER_ORT_INTRA_OP_THREADS", "1")


def in_process(*args: str) -> str:
    result = runner.invoke(app, ["analyze", *args])
    assert result.exit_code in (0, 1), result.output
    return result.stdout


def on_ray(out: Path, *args: str, expect: int = 0) -> str:
    result = runner.invoke(app, ["analyze", *args, "--ray", "--out", str(out), "--format", "csv"])
    assert result.exit_code == expect, result.output
    return result.stderr


def dicts(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


def test_photos_and_a_clip_give_the_in_process_rows(planted_clip, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    folder = tmp_path / "collection"
    shutil.copytree(PHOTOS, folder, ignore=shutil.ignore_patterns("*.md"))
    shutil.copy(planted_clip.path, folder / "clip.mp4")
    images = in_process(str(folder))
    video_csv = tmp_path / "clip.csv"
    assert runner.invoke(app, ["video", str(folder / "clip.mp4"), "--out", str(video_csv)]).exit_code == 0

    summary = on_ray(tmp_path / "out", str(folder))

    assert (tmp_path / "out/images.csv").read_text() == images  # same columns, rows, values and order
    assert [(Path(r["path"]).name, r["emotion"]) for r in dicts(images)] == [("astronaut.png", "happy")]
    timeline = dicts((tmp_path / "out/videos.csv").read_text())
    expected = dicts(video_csv.read_text())
    assert len(timeline) == len(expected) > 0
    assert {(r.pop("path"), r.pop("error")) for r in timeline} == {(str(folder / "clip.mp4"), "")}
    assert timeline == expected
    assert f"2 images, 1 videos, {1 + len(expected)} faces, 0 errors" in summary
    parquet = pq.read_table(tmp_path / "out/images")
    assert parquet.column_names == list(dicts(images)[0]) and parquet.num_rows == 1


def test_bad_files_become_error_rows_and_the_job_finishes(planted_clip, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "truncated.png").write_bytes((PHOTOS / "astronaut.png").read_bytes()[:300])
    (tmp_path / "notes.jpg").write_text("not an image\n")
    (tmp_path / "broken.mp4").write_bytes(b"\x00" * 4096)
    shutil.copy(PHOTOS / "astronaut.png", tmp_path / "astronaut.png")
    listing = tmp_path / "files.txt"
    listing.write_text("astronaut.png\ntruncated.png\nnotes.jpg\nmissing.png\nbroken.mp4\nastronaut.png\n")

    summary = on_ray(tmp_path / "out", str(listing), expect=1)

    rows = dicts((tmp_path / "out/images.csv").read_text())
    names = [Path(r["path"]).name for r in rows]
    assert names == ["astronaut.png", "astronaut.png", "missing.png", "notes.jpg", "truncated.png"]  # listed twice
    errors = {Path(r["path"]).name: r["error"] for r in rows if r["error"]}
    assert errors["missing.png"].startswith("cannot read: No such file")
    assert errors["notes.jpg"].startswith("unsupported file type text")
    assert set(errors) == {"missing.png", "notes.jpg", "truncated.png"}
    # In process, the list's order; the video is left out (fer analyze alone reads it as an image).
    alone = [r for r in dicts(in_process(str(listing))) if not r["path"].endswith(".mp4")]
    assert sorted(alone, key=lambda r: r["path"]) == rows
    (video,) = dicts((tmp_path / "out/videos.csv").read_text())
    assert Path(video["path"]).name == "broken.mp4" and video["error"] and video["frame"] == ""
    assert "5 images, 1 videos, 2 faces, 4 errors" in summary


def test_a_run_without_ray_never_imports_it() -> None:
    code = (
        "import sys\n"
        "from typer.testing import CliRunner\n"
        "from service.cli import app\n"
        f"result = CliRunner().invoke(app, ['analyze', {str(PHOTOS)!r}])\n"
        "assert result.exit_code == 0, result.output\n"
        "print(sorted(name for name in ('ray', 'pyarrow') if name in sys.modules))\n"
    )
    env = {"PATH": "/usr/bin:/bin", "FER_MODEL_STORE": str(MODEL_STORE), "FER_ORT_INTRA_OP_THREADS": "1"}
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_each_actor_gets_the_threads_setting_and_one_when_onnx_runtime_would_choose() -> None:
    assert actor_settings(Settings(ort_intra_op_threads=0)).ort_intra_op_threads == 1
    assert actor_settings(Settings(ort_intra_op_threads=3)).ort_intra_op_threads == 3
    assert actor_settings(Settings(model_store=Path("model_store"))).model_store == REPO_ROOT / "model_store"


def test_ray_missing_is_a_usage_error_naming_the_extra(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delitem(sys.modules, "service.cluster.job")
    monkeypatch.setitem(sys.modules, "ray", None)  # as if not installed: importing it raises ModuleNotFoundError
    result = runner.invoke(app, ["analyze", str(PHOTOS), "--ray", "--out", str(tmp_path)])
    message = " ".join(re.sub(r"[│╭╮╰╯─]", " ", result.output).split())  # the words of typer's error box
    assert result.exit_code == 2 and "(ray is missing): pip install 'fer-service[cluster]'" in message
