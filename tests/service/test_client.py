"""``python -m service.client``: prints the faces of image files and folders."""

import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from service.client import default_url, main


@pytest.fixture(scope="module")
def server_url(live_server, make_settings) -> Iterator[str]:  # type: ignore[no-untyped-def]
    with live_server(make_settings()) as (base_url, _app):
        yield base_url


def test_client_prints_each_image_of_files_and_folders(
    server_url: str, astronaut_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main([str(astronaut_path.parent), "--url", server_url]) == 0
    out = capsys.readouterr().out
    assert "astronaut.png: 1 face (" in out
    assert "chelsea.png: 0 faces (" in out
    assert "x=1" in out  # the face line with its box


def test_client_reports_bad_files_and_exits_1(
    server_url: str, tmp_path: Path, astronaut_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "notes.png").write_text("not an image")
    shutil.copy(astronaut_path, tmp_path / "face.png")
    assert main([str(tmp_path / "notes.png"), str(tmp_path / "face.png"), "--url", server_url, "--json"]) == 1
    captured = capsys.readouterr()
    assert "notes.png: error 415" in captured.err
    assert '"faces": [{"box"' in captured.out


def test_client_walks_subfolders_only_when_asked(
    server_url: str, tmp_path: Path, astronaut_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "sub").mkdir()
    shutil.copy(astronaut_path, tmp_path / "top.png")
    shutil.copy(astronaut_path, tmp_path / "sub" / "deep.png")
    assert main([str(tmp_path), "--url", server_url]) == 0
    shallow = capsys.readouterr().out
    assert "top.png: 1 face" in shallow and "deep.png" not in shallow
    assert main([str(tmp_path), "--url", server_url, "--recursive"]) == 0
    assert "deep.png: 1 face" in capsys.readouterr().out


def test_client_sends_the_detector_asked_for(
    server_url: str, astronaut_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main([str(astronaut_path), "--url", server_url, "--json", "--detector", "blazeface"]) == 0
    face = json.loads(capsys.readouterr().out)["faces"][0]
    assert set(face["landmarks"]) >= {"right_eye", "left_eye"}  # only BlazeFace finds landmarks


def test_default_url_comes_from_fer_url_or_fer_port() -> None:
    assert default_url({}) == "http://127.0.0.1:8000"
    assert default_url({"FER_PORT": "8081"}) == "http://127.0.0.1:8081"
    assert default_url({"FER_URL": "http://fer.internal:9000", "FER_PORT": "8081"}) == "http://fer.internal:9000"
