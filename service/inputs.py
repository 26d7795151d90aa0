"""What ``fer analyze`` is given, as paths: files, folders, quoted globs and lists of paths.

A collection too large for a shell's command line is named by a glob the command expands itself
(``'archive/**/*.jpg'``, quoted) or by a text file listing one path per line; either way the
same files reach the in-process run and ``--ray``, so both give the same rows.
"""

from __future__ import annotations

import glob
from collections.abc import Iterable, Iterator
from pathlib import Path

GLOB_CHARACTERS = frozenset("*?[")
LIST_SUFFIXES = {".txt", ".lst"}
# What OpenCV's FFmpeg backend reads; the video writer's suffixes and the common camera ones.
VIDEO_SUFFIXES = {".mp4", ".mov", ".m4v", ".avi", ".webm", ".mkv"}


class InputError(ValueError):
    """A path that names nothing: a missing file or folder, or a glob that matches no file."""


def expand_inputs(paths: Iterable[Path]) -> list[Path]:
    """Paths as given, with globs expanded (sorted) and list files replaced by the paths they list."""
    found: list[Path] = []
    for path in paths:
        if path.is_file() and path.suffix.lower() in LIST_SUFFIXES:
            found += _listed(path)
        elif path.exists():
            found.append(path)
        elif GLOB_CHARACTERS & set(str(path)):
            found += _matches(path)
        else:
            raise InputError(f"{path}: no such file or folder")
    return found


def _matches(pattern: Path) -> list[Path]:
    matches = sorted(glob.glob(str(pattern), recursive=True))  # "**" enters subfolders
    if not matches:
        raise InputError(f"{pattern}: no file matches")
    return [Path(match) for match in matches]


def _listed(list_file: Path) -> Iterator[Path]:
    """One path per line (blank lines and # comments skipped); relative ones are relative to the list's folder,
    so a list moves with its collection. Listed files are not checked here: a missing one is an error row."""
    for line in list_file.read_text().splitlines():
        entry = line.strip()
        if entry and not entry.startswith("#"):
            yield list_file.parent / entry


def is_video(path: Path) -> bool:
    return path.suffix.lower() in VIDEO_SUFFIXES
