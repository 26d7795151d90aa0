"""Ensembles: member graphs merged into one ONNX model that averages their probabilities."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from training.ensemble import build
from training.evaluate import OnnxClassifier, load_raw_split
from training.flops import count_macs

MODEL_STORE = Path(__file__).resolve().parents[2] / "model_store" / "fer_cnn"
MEMBERS = [MODEL_STORE / "1.1.0", MODEL_STORE / "1.1.0-int8"]


@pytest.fixture(scope="module")
def ensemble(prepared_sample: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("store") / "fer_ensemble" / "1.0.0"
    return out, build(MEMBERS, out, "fer_ensemble", "1.0.0", str(prepared_sample))


def test_build_gives_the_mean_of_the_members(ensemble: tuple[Path, dict], prepared_sample: Path) -> None:
    out, _card = ensemble
    faces, _labels = load_raw_split(str(prepared_sample), "PrivateTest")
    each = [OnnxClassifier(d).predict_proba(faces) for d in MEMBERS]
    merged = OnnxClassifier(out).predict_proba(faces)
    np.testing.assert_allclose(merged, np.mean(each, axis=0), atol=1e-5)
    assert not np.allclose(each[0], each[1])  # the members really differ, so the mean is a real test


def test_build_card_describes_members_and_cost(ensemble: tuple[Path, dict], prepared_sample: Path) -> None:
    out, card = ensemble
    assert json.loads((out / "model.json").read_text()) == card
    assert [m["version"] for m in card["members"]] == ["1.1.0", "1.1.0-int8"]
    member_cards = [json.loads((d / "model.json").read_text()) for d in MEMBERS]
    assert card["preprocessing"] == member_cards[0]["preprocessing"] and card["labels"] == member_cards[0]["labels"]
    member_mflop = [2 * count_macs(d / "model.onnx")["total"] / 1e6 for d in MEMBERS]
    assert card["architecture"]["mflop_per_face"] == pytest.approx(sum(member_mflop), rel=1e-3)
    assert card["metrics"] == {} and "PublicTest" in card["selection_rule"]
    faces, labels = load_raw_split(str(prepared_sample), "PublicTest")
    accuracy = float((OnnxClassifier(out).predict_proba(faces).argmax(1) == labels).mean())
    assert card["export"]["publictest_accuracy"] == pytest.approx(accuracy)


def test_build_refuses_members_with_another_preprocessing(prepared_sample: Path, tmp_path: Path) -> None:
    other = tmp_path / "other"
    shutil.copytree(MEMBERS[1], other)
    card = json.loads((other / "model.json").read_text())
    card["preprocessing"]["clahe_clip_limit"] = 3.0
    (other / "model.json").write_text(json.dumps(card))
    with pytest.raises(ValueError, match="preprocessing"):
        build([MEMBERS[0], other], tmp_path / "out", "fer_ensemble", "1.0.0", str(prepared_sample))
