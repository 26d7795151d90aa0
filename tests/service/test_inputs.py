"""What ``fer analyze`` accepts as inputs (globs, lists of paths) and how ``--ray``'s optional address parses."""

from __future__ import annotations

from pathlib import Path

import pytest

from service.cluster.options import with_addresses
from service.inputs import InputError, expand_inputs


@pytest.fixture
def collection(tmp_path: Path) -> Path:
    for name in ("a.jpg", "b.png", "sub/c.jpg", "notes.md"):
        (tmp_path / name).parent.mkdir(exist_ok=True)
        (tmp_path / name).write_bytes(b"")
    return tmp_path


def names(paths: list[Path], root: Path) -> list[str]:
    return [path.relative_to(root).as_posix() for path in paths]


def test_a_quoted_glob_is_expanded_sorted_and_double_star_enters_subfolders(collection: Path) -> None:
    assert names(expand_inputs([collection / "*.jpg"]), collection) == ["a.jpg"]
    assert names(expand_inputs([collection / "**/*.jpg"]), collection) == ["a.jpg", "sub/c.jpg"]


def test_a_list_file_gives_its_paths_relative_to_itself_in_order_and_unchecked(collection: Path) -> None:
    listing = collection / "sub" / "files.txt"
    listing.write_text("# the archive\n../b.png\n\nc.jpg\ngone.jpg\n")
    assert names(expand_inputs([listing]), collection) == ["sub/../b.png", "sub/c.jpg", "sub/gone.jpg"]


def test_paths_that_name_nothing_are_refused(collection: Path) -> None:
    with pytest.raises(InputError, match="no such file or folder"):
        expand_inputs([collection / "gone.jpg"])
    with pytest.raises(InputError, match="no file matches"):
        expand_inputs([collection / "*.webp"])
    assert expand_inputs([collection]) == [collection]  # folders are listed later, by iter_images


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["photos", "--ray"], ["photos", "--ray", "local"]),
        (["--ray", "photos", "-o", "out"], ["--ray", "local", "photos", "-o", "out"]),
        (["photos", "--ray", "--out", "o"], ["photos", "--ray", "local", "--out", "o"]),
        (["photos", "--ray", "auto"], ["photos", "--ray", "auto"]),
        (["photos", "--ray", "ray://head:10001"], ["photos", "--ray", "ray://head:10001"]),
        (["photos", "--ray", "10.0.0.5:6379"], ["photos", "--ray", "10.0.0.5:6379"]),
        (["--ray=auto", "photos"], ["--ray=auto", "photos"]),
        (["photos"], ["photos"]),
    ],
)
def test_ray_without_an_address_means_local(args: list[str], expected: list[str]) -> None:
    assert with_addresses(args) == expected
