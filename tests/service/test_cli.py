"""``fer``: files and folders analysed offline into CSV or JSON lines; serve and video subcommands."""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

import service
from service.cli import app
from service.files import columns, face_rows, iter_images

LABELS = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")
runner = CliRunner()


@pytest.fixture(autouse=True)
def _committed_model(monkeypatch: pytest.MonkeyPatch, make_settings) -> None:  # type: ignore[no-untyped-def]
    """The CLI reads FER_* settings like the server: the committed model, one ONNX Runtime thread."""
    monkeypatch.setenv("FER_MODEL_STORE", str(make_settings().model_store))
    monkeypatch.setenv("FER_ORT_INTRA_OP_THREADS", "1")


@pytest.fixture
def photo_folder(tmp_path: Path, astronaut_path: Path, chelsea_path: Path) -> Path:
    """The two real photos at the top, and the astronaut again one folder down."""
    for photo in (astronaut_path, chelsea_path):
        shutil.copy(photo, tmp_path / photo.name)
    (tmp_path / "nested").mkdir()
    shutil.copy(astronaut_path, tmp_path / "nested" / "again.png")
    return tmp_path


def rows_of(output: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(output)))


def test_analyze_writes_one_row_per_face_found_in_the_committed_photos(astronaut_path: Path) -> None:
    photos = astronaut_path.parent
    result = runner.invoke(app, ["analyze", str(photos)])
    assert result.exit_code == 0, result.output
    rows = rows_of(result.stdout)
    found = sum(len(service.analyze(path)) for path in sorted(photos.glob("*.png")))
    assert len(rows) == found == 1
    assert list(rows[0]) == columns(LABELS)
    assert (Path(rows[0]["path"]).name, rows[0]["emotion"], rows[0]["error"]) == ("astronaut.png", "happy", "")
    assert float(rows[0]["happy"]) == pytest.approx(float(rows[0]["confidence"]))


def test_analyze_enters_subfolders_only_with_recursive(photo_folder: Path) -> None:
    shallow = rows_of(runner.invoke(app, ["analyze", str(photo_folder)]).stdout)
    deep = rows_of(runner.invoke(app, ["analyze", str(photo_folder), "--recursive"]).stdout)
    assert [Path(r["path"]).relative_to(photo_folder).as_posix() for r in shallow] == ["astronaut.png"]
    assert [Path(r["path"]).relative_to(photo_folder).as_posix() for r in deep] == ["astronaut.png", "nested/again.png"]


def test_analyze_reports_a_bad_file_in_its_error_column_and_exits_1(photo_folder: Path, tmp_path: Path) -> None:
    (photo_folder / "notes.png").write_text("not an image\n")
    out = tmp_path / "faces.jsonl"
    result = runner.invoke(app, ["analyze", str(photo_folder), "--format", "jsonl", "--out", str(out)])
    assert result.exit_code == 1
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [list(row) for row in rows] == [columns(LABELS)] * len(rows)
    bad = [row for row in rows if row["path"].endswith("notes.png")]
    assert len(bad) == 1 and bad[0]["error"].startswith("unsupported file type text") and bad[0]["emotion"] is None
    assert [row["emotion"] for row in rows if row["error"] is None] == ["happy"]
    assert "3 images, 1 faces, 1 errors" in result.stderr


def test_analyze_uses_the_detector_asked_for(astronaut_path: Path) -> None:
    haar = rows_of(runner.invoke(app, ["analyze", str(astronaut_path)]).stdout)
    blazeface = rows_of(runner.invoke(app, ["analyze", str(astronaut_path), "--detector", "blazeface"]).stdout)
    expected = service.analyze(astronaut_path, detector="blazeface")[0].box
    assert (int(blazeface[0]["x"]), int(blazeface[0]["w"])) == (expected.x, expected.w)
    assert (blazeface[0]["x"], blazeface[0]["w"]) != (haar[0]["x"], haar[0]["w"])


def test_face_rows_keep_going_after_an_unreadable_file(tmp_path: Path) -> None:
    def analyze(path: Path) -> list:
        raise FileNotFoundError(2, "No such file or directory")

    (row,) = face_rows([tmp_path / "gone.jpg"], analyze, LABELS)
    assert row["error"] == "cannot read: No such file or directory" and row["face"] is None


def test_iter_images_lists_a_folder_and_its_subfolders_only_when_asked(tmp_path: Path) -> None:
    for name in ("b.jpg", "a.PNG", "readme.md", "sub/c.webp"):
        (tmp_path / name).parent.mkdir(exist_ok=True)
        (tmp_path / name).write_bytes(b"")
    names = [p.relative_to(tmp_path).as_posix() for p in iter_images([tmp_path])]
    assert names == ["a.PNG", "b.jpg"]
    deep = [p.relative_to(tmp_path).as_posix() for p in iter_images([tmp_path], recursive=True)]
    assert deep == ["a.PNG", "b.jpg", "sub/c.webp"]


def test_video_subcommand_runs_the_video_analysis(planted_clip, assert_follows_planted, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    out = tmp_path / "emotions.csv"
    result = runner.invoke(app, ["video", str(planted_clip.path), "--out", str(out), "--every", "2"])
    assert result.exit_code == 0, result.output
    with out.open() as handle:
        assert_follows_planted(list(csv.DictReader(handle)))


def test_serve_subcommand_passes_its_options_as_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    seen = {}

    def fake_main() -> None:
        from service.settings import Settings

        settings = Settings()
        seen.update(port=settings.port, detector=settings.detector, version=settings.model_version)

    monkeypatch.setattr("service.__main__.main", fake_main)
    monkeypatch.setattr(os, "environ", {**os.environ})  # the FER_* variables the command sets end with the test
    result = runner.invoke(app, ["serve", "--port", "8123", "--detector", "blazeface", "--version", "1.2.0"])
    assert result.exit_code == 0, result.output
    assert seen == {"port": 8123, "detector": "blazeface", "version": "1.2.0"}


def test_the_fer_console_script_is_this_typer_app() -> None:
    import tomllib

    import typer

    scripts = tomllib.loads((Path(__file__).resolve().parents[2] / "pyproject.toml").read_text())["project"]["scripts"]
    assert scripts["fer"] == "service.cli:app" and isinstance(app, typer.Typer)
    listed = runner.invoke(app, ["--help"]).stdout
    assert all(command in listed for command in ("analyze", "serve", "video"))


def test_analyze_names_a_missing_model_in_one_line_with_status_2(astronaut_path: Path) -> None:
    result = runner.invoke(app, ["analyze", str(astronaut_path), "--model", "fer_missing"])
    assert result.exit_code == 2
    assert result.stderr.startswith("error: model fer_missing: no version with model.json")
