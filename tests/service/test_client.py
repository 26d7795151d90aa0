"""``python -m service.client``: prints the faces of image files and folders."""

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from service.client import iter_images, main


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


def test_iter_images_expands_folders_to_image_files(tmp_path: Path) -> None:
    for name in ("b.jpg", "a.PNG", "readme.md", "sub/c.webp"):
        (tmp_path / name).parent.mkdir(exist_ok=True)
        (tmp_path / name).write_bytes(b"")
    assert [p.relative_to(tmp_path).as_posix() for p in iter_images([tmp_path])] == ["a.PNG", "b.jpg", "sub/c.webp"]
