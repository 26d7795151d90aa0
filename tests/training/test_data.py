"""Both FER-2013 loaders on small fixtures, including malformed input."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from training.data import DatasetError, load_csv, load_dataset, load_folders
from training.labels import LABELS

HEADER = "emotion,pixels,Usage\n"


def pixels(value: int = 128, count: int = 48 * 48) -> str:
    return " ".join([str(value)] * count)


def write_csv(path: Path, rows: list[str], header: str = HEADER) -> Path:
    path.write_text(header + "".join(row + "\n" for row in rows))
    return path


def test_load_csv_splits_rows_by_usage(tmp_path):
    rows = [
        f"3,{pixels(10)},Training",
        f"0,{pixels(20)},Training",
        f"6,{pixels(30)},PublicTest",
        f"1,{pixels(40)},PrivateTest",
    ]
    data = load_csv(write_csv(tmp_path / "fer2013.csv", rows))
    assert [len(data[s]) for s in ("Training", "PublicTest", "PrivateTest")] == [2, 1, 1]
    assert data["Training"].labels.tolist() == [3, 0]
    assert data["Training"].images.shape == (2, 48, 48) and data["Training"].images.dtype == np.uint8
    assert data["PrivateTest"].images[0, 0, 0] == 40


def test_load_dataset_finds_csv_in_folder(tmp_path):
    write_csv(tmp_path / "fer2013.csv", [f"5,{pixels()},Training"])
    assert len(load_dataset(tmp_path)["Training"]) == 1


@pytest.mark.parametrize(
    ("row", "message"),
    [
        (f"9,{pixels()},Training", "emotion 9 outside"),
        (f"x,{pixels()},Training", "not an integer"),
        (f"1,{pixels(count=100)},Training", "expected 2304 pixels, got 100"),
        (f"1,{pixels(300)},Training", "within 0..255"),
        ("1,1 2 abc,Training", "non-integer"),
        (f"1,{pixels()},Validation", "Usage 'Validation'"),
    ],
)
def test_load_csv_malformed_row_names_file_and_row(tmp_path, row, message):
    path = write_csv(tmp_path / "bad.csv", [f"0,{pixels()},Training", row])
    with pytest.raises(DatasetError) as err:
        load_csv(path)
    assert str(path) in str(err.value) and "row 3" in str(err.value) and message in str(err.value)


def test_load_csv_missing_column_is_reported(tmp_path):
    path = write_csv(tmp_path / "bad.csv", [f"0,{pixels()}"], header="emotion,pixels\n")
    with pytest.raises(DatasetError, match="lacks column"):
        load_csv(path)


def test_load_dataset_missing_path_is_reported(tmp_path):
    with pytest.raises(DatasetError, match="not found"):
        load_dataset(tmp_path / "nowhere.csv")


def test_load_folders_reads_sample_with_official_splits(sample_dir):
    data = load_folders(sample_dir)
    for split in ("Training", "PublicTest", "PrivateTest"):
        assert len(data[split]) == 10 * len(LABELS)
        assert np.bincount(data[split].labels, minlength=7).tolist() == [10] * 7
        assert all(name.startswith(split + "_") for name in data[split].names)


def test_load_folders_unknown_class_is_reported(tmp_path):
    (tmp_path / "train" / "contempt").mkdir(parents=True)
    with pytest.raises(DatasetError, match="unknown class folder"):
        load_folders(tmp_path)


def test_load_folders_unreadable_image_is_reported(tmp_path):
    folder = tmp_path / "test" / "happy"
    folder.mkdir(parents=True)
    cv2.imwrite(str(folder / "PublicTest_1.png"), np.zeros((48, 48), np.uint8))
    (folder / "PublicTest_2.jpg").write_bytes(b"not a jpeg")
    with pytest.raises(DatasetError, match="PublicTest_2.jpg: not a readable image"):
        load_folders(tmp_path)


def test_load_folders_empty_root_is_reported(tmp_path):
    with pytest.raises(DatasetError, match="neither fer2013.csv nor"):
        load_dataset(tmp_path)
