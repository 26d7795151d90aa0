"""Image files of paths and folders, and their faces as table rows (the ``fer analyze`` core).

:func:`face_rows` yields one row per face found, and one per file that could not be analysed,
all with the same columns (:func:`columns`), so a row can go to CSV, JSON lines or any other
sink, and the files can be shared out between workers without changing what a row is.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

from service.decoding import ImageError
from service.schemas import FaceOut

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp", ".bmp"}
FIRST_COLUMNS = ("path", "face", "x", "y", "w", "h", "emotion", "confidence")
Row = dict[str, Any]
Analyze = Callable[[Path], list[FaceOut]]


def iter_images(
    paths: Iterable[Path], recursive: bool = False, suffixes: Collection[str] = IMAGE_SUFFIXES
) -> Iterator[Path]:
    """Files as given; a folder gives its image files (or those with ``suffixes``), sorted (with
    ``recursive``, those of its subfolders too)."""
    for path in paths:
        if path.is_dir():
            found = path.rglob("*") if recursive else path.iterdir()
            yield from sorted(p for p in found if p.is_file() and p.suffix.lower() in suffixes)
        else:
            yield path


def columns(labels: Sequence[str]) -> list[str]:
    """Every row's keys, in order: where the face is, its top emotion, each label's probability, the error."""
    return [*FIRST_COLUMNS, *labels, "error"]


def face_rows(files: Iterable[Path], analyze: Analyze, labels: Sequence[str]) -> Iterator[Row]:
    """One row per face found (a file without a face gives none); a file that fails gives one error row."""
    for path in files:
        try:
            faces = analyze(path)
        except ImageError as exc:
            yield error_row(path, exc.detail, labels)
            continue
        except OSError as exc:
            yield error_row(path, f"cannot read: {exc.strerror or exc}", labels)
            continue
        for index, face in enumerate(faces):
            yield face_row(path, index, face, labels)


def face_row(path: Path, index: int, face: FaceOut, labels: Sequence[str]) -> Row:
    box = face.box
    where = {"path": str(path), "face": index, "x": box.x, "y": box.y, "w": box.w, "h": box.h}
    top = {"emotion": face.emotion, "confidence": round(face.confidence, 4)}
    probabilities = {label: round(face.probabilities[label], 4) for label in labels}
    return {**where, **top, **probabilities, "error": None}


def error_row(path: Path, error: str, labels: Sequence[str]) -> Row:
    row: Row = dict.fromkeys(columns(labels))  # None: an empty CSV cell, JSON null
    return {**row, "path": str(path), "error": error}
