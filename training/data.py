"""Load FER-2013 from either layout users download, with clear errors for bad input.

- CSV layout: ``fer2013.csv`` with columns ``emotion,pixels,Usage``.
- Folder layout: ``train/<class>/*.jpg`` and ``test/<class>/*.jpg``, where the file-name
  prefix (Training_, PublicTest_, PrivateTest_) gives the official split.

Both return ``{split: Split}`` with uint8 images of shape (N, 48, 48) and int64 labels.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from training.labels import LABEL_TO_ID, LABELS, SPLITS

IMAGE_SIZE = 48
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp"}


class DatasetError(ValueError):
    """A missing or malformed dataset; the message names the file and row."""


@dataclass
class Split:
    """One official split: images (N, 48, 48) uint8, labels (N,) int64, source names."""

    images: np.ndarray
    labels: np.ndarray
    names: list[str]

    def __len__(self) -> int:
        return len(self.labels)


def load_dataset(path: str | Path) -> dict[str, Split]:
    """Load FER-2013 from a CSV file or an image-folder root, whichever ``path`` is."""
    path = Path(path)
    if not path.exists():
        raise DatasetError(f"{path}: dataset not found (expected fer2013.csv or a folder with train/ and test/)")
    if path.is_file():
        return load_csv(path)
    csv_file = path / "fer2013.csv"
    if csv_file.is_file():
        return load_csv(csv_file)
    return load_folders(path)


def _parse_csv_row(row: dict[str, str], where: str) -> tuple[np.ndarray, int, str]:
    try:
        label = int(row["emotion"])
    except (TypeError, ValueError):
        raise DatasetError(f"{where}: emotion {row.get('emotion')!r} is not an integer") from None
    if not 0 <= label < len(LABELS):
        raise DatasetError(f"{where}: emotion {label} outside 0..{len(LABELS) - 1}")
    usage = (row.get("Usage") or "").strip()
    if usage not in SPLITS:
        raise DatasetError(f"{where}: Usage {usage!r} is not one of {', '.join(SPLITS)}")
    try:
        pixels = np.array((row["pixels"] or "").split(), dtype=np.int64)
    except ValueError:
        raise DatasetError(f"{where}: pixels contain a non-integer value") from None
    if pixels.size != IMAGE_SIZE * IMAGE_SIZE:
        raise DatasetError(f"{where}: expected {IMAGE_SIZE * IMAGE_SIZE} pixels, got {pixels.size}")
    if pixels.min() < 0 or pixels.max() > 255:
        raise DatasetError(f"{where}: pixel values must be within 0..255")
    return pixels.astype(np.uint8).reshape(IMAGE_SIZE, IMAGE_SIZE), label, usage


def load_csv(path: str | Path) -> dict[str, Split]:
    """Load the original ``fer2013.csv`` (columns emotion, pixels, Usage)."""
    path = Path(path)
    if not path.is_file():
        raise DatasetError(f"{path}: CSV file not found")
    rows: dict[str, list[tuple[np.ndarray, int, str]]] = {s: [] for s in SPLITS}
    with path.open(newline="") as handle:
        reader = csv.DictReader(handle)
        missing = {"emotion", "pixels", "Usage"} - set(reader.fieldnames or [])
        if missing:
            raise DatasetError(f"{path}: header lacks column(s) {', '.join(sorted(missing))}")
        for line_no, row in enumerate(reader, start=2):
            image, label, usage = _parse_csv_row(row, f"{path}, row {line_no}")
            rows[usage].append((image, label, f"{usage}_row{line_no}"))
    return {split: _stack(items, path) for split, items in rows.items()}


def _read_image(path: Path) -> np.ndarray:
    image = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
    if image is None:
        raise DatasetError(f"{path}: not a readable image")
    if image.shape != (IMAGE_SIZE, IMAGE_SIZE):
        image = cv2.resize(image, (IMAGE_SIZE, IMAGE_SIZE), interpolation=cv2.INTER_AREA)
    return image


def _split_of(path: Path) -> str:
    prefix = path.name.split("_", 1)[0]
    if prefix in SPLITS:
        return prefix
    # Files without an official prefix follow their folder: train/ fits, test/ validates.
    return "Training" if path.parent.parent.name == "train" else "PublicTest"


def load_folders(root: str | Path) -> dict[str, Split]:
    """Load the image-folder layout ``{train,test}/<class>/*.jpg``."""
    root = Path(root)
    subsets = [root / name for name in ("train", "test") if (root / name).is_dir()]
    if not subsets:
        raise DatasetError(f"{root}: neither fer2013.csv nor train/ and test/ folders found")
    rows: dict[str, list[tuple[np.ndarray, int, str]]] = {s: [] for s in SPLITS}
    for subset in subsets:
        for class_dir in sorted(p for p in subset.iterdir() if p.is_dir()):
            if class_dir.name not in LABEL_TO_ID:
                raise DatasetError(f"{class_dir}: unknown class folder (expected one of {', '.join(LABELS)})")
            for file in sorted(class_dir.iterdir()):
                if file.suffix.lower() in IMAGE_SUFFIXES:
                    rows[_split_of(file)].append((_read_image(file), LABEL_TO_ID[class_dir.name], file.name))
    return {split: _stack(items, root) for split, items in rows.items()}


def _stack(items: list[tuple[np.ndarray, int, str]], source: Path) -> Split:
    if not items:
        return Split(np.zeros((0, IMAGE_SIZE, IMAGE_SIZE), np.uint8), np.zeros(0, np.int64), [])
    images, labels, names = zip(*items, strict=True)
    return Split(np.stack(images), np.array(labels, dtype=np.int64), list(names))


def class_counts(labels: np.ndarray) -> dict[str, int]:
    """Number of examples per class name, in label order."""
    counts = np.bincount(labels, minlength=len(LABELS))
    return {name: int(n) for name, n in zip(LABELS, counts, strict=True)}
