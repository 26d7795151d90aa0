"""The framing fit: from the boxes a detector found to the planted squares, into the detector's card."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from service.faces.framing import read_card
from training.fit_framing import fit_and_store, fit_framing, matched_boxes
from training.planting import planted_scenes

from ..fake_detectors import ShrunkBoxes


def scenes(count: int, seed: int) -> list:
    faces = np.random.default_rng(0).integers(0, 256, (count, 48, 48), dtype=np.uint8)
    return planted_scenes(faces, np.arange(count) % 7, seed=seed, max_angle=0)


def test_matched_boxes_keeps_the_box_on_each_face() -> None:
    planted = scenes(5, seed=2)
    matches = matched_boxes(ShrunkBoxes(planted), planted)
    assert [case for case, _ in matches] == planted and all(box.w > 10 for _, box in matches)


def test_fit_framing_recovers_the_scale_and_offset_of_the_boxes() -> None:
    planted = scenes(9, seed=4)
    framing = fit_framing(matched_boxes(ShrunkBoxes(planted), planted), align=True)
    assert framing.scale_x == pytest.approx(1.25, abs=0.02) and framing.scale_y == pytest.approx(1.25, abs=0.02)
    assert framing.dx == pytest.approx(0.0, abs=0.01) and framing.dy == pytest.approx(-0.1, abs=0.01)


def test_fit_framing_without_a_found_face_is_an_error() -> None:
    with pytest.raises(ValueError, match="no face found"):
        fit_framing([], align=False)


def test_fit_and_store_writes_the_framing_into_the_card_and_keeps_the_rest(tmp_path: Path) -> None:
    planted = scenes(9, seed=4)
    card = tmp_path / "fake" / "card.json"
    card.parent.mkdir()
    card.write_text(json.dumps({"name": "fake", "input": {"size": 128}}))
    fitted = fit_and_store({"fake": ShrunkBoxes(planted)}, planted, tmp_path)
    written = read_card(card)
    assert written["input"] == {"size": 128} and written["framing"] == fitted["fake"].to_dict()
    assert written["framing_fit"] == "median over 9 planted FER-2013 Training faces (training.fit_framing)"
