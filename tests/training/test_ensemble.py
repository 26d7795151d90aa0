"""Ensembles: member graphs merged into one ONNX model that averages their probabilities."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from service.loading import load_model
from service.settings import Settings
from training import quantize
from training.ensemble import build, choose_shift, describe_member, forward_selection, views_mean
from training.evaluate import OnnxClassifier, load_raw_split
from training.flops import count_macs
from training.shift_views import shifted_views

MODEL_STORE = Path(__file__).resolve().parents[2] / "model_store" / "fer_cnn"
MEMBERS = [MODEL_STORE / "1.1.0", MODEL_STORE / "1.1.0-int8"]
FLOAT_MEMBERS = [MODEL_STORE / "1.1.0", MODEL_STORE.parent / "fer_lite" / "1.0.0"]


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


def test_each_members_figure_is_its_evaluation_or_else_its_exports() -> None:
    evaluated = json.loads((MEMBERS[0] / "model.json").read_text())
    assert describe_member(evaluated)["publictest_accuracy"] == evaluated["metrics"]["PublicTest"]["accuracy"]
    unevaluated = evaluated | {"metrics": {}, "export": {"publictest_accuracy": 0.6991}}  # PrivateTest never read
    assert describe_member(unevaluated)["publictest_accuracy"] == 0.6991


def test_build_refuses_members_with_another_preprocessing(prepared_sample: Path, tmp_path: Path) -> None:
    other = tmp_path / "other"
    shutil.copytree(MEMBERS[1], other)
    card = json.loads((other / "model.json").read_text())
    card["preprocessing"]["clahe_clip_limit"] = 3.0
    (other / "model.json").write_text(json.dumps(card))
    with pytest.raises(ValueError, match="preprocessing"):
        build([MEMBERS[0], other], tmp_path / "out", "fer_ensemble", "1.0.0", str(prepared_sample))


def votes(labels: np.ndarray, right: np.ndarray, sure_wrong: float) -> np.ndarray:
    """Probabilities 0.9 on the true label where ``right``, else ``sure_wrong`` on the next label."""
    predicted = np.where(right, labels, (labels + 1) % 7)
    sure = np.where(right, 0.9, sure_wrong)[:, None]
    return np.eye(7)[predicted] * sure + (1 - sure) / 7


def test_forward_selection_adds_members_only_while_the_mean_gains() -> None:
    labels, face = np.arange(10) % 7, np.arange(10)
    probs = {
        "strong": votes(labels, face < 8, sure_wrong=0.6),  # 80 %
        "other": votes(labels, face >= 2, sure_wrong=0.6),  # 80 %, right where strong is wrong
        "weak": votes(labels, face < 5, sure_wrong=0.95),  # 50 %, and sure of its mistakes
    }
    chosen, steps = forward_selection(probs, labels, {"strong": 2.0, "other": 1.0, "weak": 1.0})
    assert steps[0] == {"members": ["other"], "accuracy": 0.8}  # tied with strong: the cheaper one
    assert steps[1] == {"members": ["other", "strong"], "accuracy": 1.0}  # other + weak: 0.5
    assert steps[2] == {"members": ["other", "strong", "weak"], "accuracy": 0.8}  # tried, refused
    assert chosen == ["other", "strong"]


def test_shifted_views_move_the_face_and_repeat_its_edges() -> None:
    face = np.arange(36, dtype=np.float32).reshape(1, 6, 6, 1)
    centre, up, down, left, right = shifted_views(face, 2)
    np.testing.assert_array_equal(centre, face)
    np.testing.assert_array_equal(down[0, 2:, :, 0], face[0, :4, :, 0])  # row y shows row y - 2
    np.testing.assert_array_equal(down[0, :2, :, 0], face[0, [0, 0], :, 0])  # the top row, repeated
    np.testing.assert_array_equal(up[0, :4, :, 0], face[0, 2:, :, 0])
    np.testing.assert_array_equal(right[0, :, 2:, 0], face[0, :, :4, 0])
    np.testing.assert_array_equal(left[0, :, :4, 0], face[0, :, 2:, 0])
    (only,) = shifted_views(face, 0)
    np.testing.assert_array_equal(only, face)


def test_build_with_shifts_averages_the_views_in_the_graph(prepared_sample: Path, tmp_path: Path) -> None:
    out = tmp_path / "fer_ensemble" / "1.0.0"
    card = build(MEMBERS, out, "fer_ensemble", "1.0.0", str(prepared_sample), shift=2)
    faces, _labels = load_raw_split(str(prepared_sample), "PrivateTest")
    members = [OnnxClassifier(d) for d in MEMBERS]
    merged = OnnxClassifier(out).predict_proba(faces)
    np.testing.assert_allclose(merged, views_mean(members, faces, 2), atol=1e-5)
    assert not np.allclose(merged, views_mean(members, faces, 0), atol=1e-3)  # the views change the answer
    assert card["test_time_views"] == {"flip": "each member's own", "shift_px": 2, "shifted_views": 5}
    member_mflop = sum(2 * count_macs(d / "model.onnx")["total"] / 1e6 for d in MEMBERS)
    assert card["architecture"]["mflop_per_face"] == pytest.approx(5 * member_mflop, rel=1e-3)


class ShiftBlindMember:
    """A member whose answer ignores the face: every shift scores the same."""

    def model_input(self, raw_faces: np.ndarray) -> np.ndarray:
        return np.zeros((len(raw_faces), 48, 48, 1), np.float32)

    def predict_input(self, x: np.ndarray) -> np.ndarray:
        return np.tile(np.eye(7)[3], (len(x), 1))


def test_choose_shift_takes_the_earlier_candidate_on_a_tie(prepared_sample: Path) -> None:
    blind = [ShiftBlindMember()]
    assert choose_shift(blind, str(prepared_sample), [0, 2])[0] == 0  # type: ignore[arg-type]
    shift, scores = choose_shift(blind, str(prepared_sample), [3, 2])  # type: ignore[arg-type]
    assert shift == 3 and scores[3] == scores[2] > 0


def test_choose_shift_scores_each_candidate_on_publictest(prepared_sample: Path) -> None:
    members = [OnnxClassifier(MEMBERS[0])]
    faces, labels = load_raw_split(str(prepared_sample), "PublicTest")
    shift, scores = choose_shift(members, str(prepared_sample), [0, 2])
    assert scores[2] == pytest.approx(float((views_mean(members, faces, 2).argmax(1) == labels).mean()))
    assert shift == (2 if scores[2] > scores[0] else 0)


@pytest.mark.slow
def test_ensemble_int8_variant_is_served_by_name(
    prepared_sample: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The shipped teacher's path: one graph, its static-QDQ int8 variant, served as FER_MODEL_NAME=fer_ensemble."""
    monkeypatch.setattr(quantize, "BUILD", tmp_path / "build")
    store = tmp_path / "store"
    float_dir = store / "fer_ensemble" / "1.0.0"
    build(FLOAT_MEMBERS, float_dir, "fer_ensemble", "1.0.0", str(prepared_sample))
    result = quantize.quantize_release(float_dir, store, prepared_sample, calibration=64, max_drop=100.0)
    settings = Settings(
        model_store=store,
        model_name="fer_ensemble",
        detector_store=MODEL_STORE.parent / "face_detectors",
        ort_intra_op_threads=1,
        ort_inter_op_threads=1,
    )
    loaded = load_model(settings)  # the defaults: latest release, int8 variant
    assert result["shipped"] and loaded.card.version == "1.0.0-int8"
    assert [m["version"] for m in loaded.card.metadata["members"]] == ["1.1.0", "1.0.0"]
    faces, _labels = load_raw_split(str(prepared_sample), "PrivateTest")
    served = loaded.recognizer().predict_faces(list(faces))
    served_probs = np.array([[p.probabilities[label] for label in loaded.card.labels] for p in served])
    int8 = OnnxClassifier(store / "fer_ensemble" / "1.0.0-int8").predict_proba(faces)
    np.testing.assert_allclose(served_probs, int8 / int8.sum(1, keepdims=True), atol=1e-5)  # served rows sum to 1
    float_probs = OnnxClassifier(float_dir).predict_proba(faces)
    assert np.mean(int8.argmax(1) == float_probs.argmax(1)) >= 0.9  # the int8 graph is the ensemble, not noise
