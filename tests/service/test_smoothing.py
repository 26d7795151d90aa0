"""service.smoothing: exponential moving average of each face's probabilities across frames."""

import pytest

from service.faces.detector import Box
from service.inference import FacePrediction
from service.smoothing import FaceSmoother


def face(box: Box, happy: float) -> FacePrediction:
    return FacePrediction(box, {"happy": happy, "sad": 1.0 - happy})


def test_update_blends_a_face_with_its_match_from_the_previous_frame() -> None:
    smoother = FaceSmoother(alpha=0.25)
    smoother.update([face(Box(0, 0, 100, 100), 1.0)])
    [smoothed] = smoother.update([face(Box(5, 5, 100, 100), 0.0)])
    assert smoothed.box == Box(5, 5, 100, 100)
    assert smoothed.probabilities["happy"] == pytest.approx(0.75)
    assert sum(smoothed.probabilities.values()) == pytest.approx(1.0)


def test_update_starts_fresh_for_a_face_that_does_not_overlap() -> None:
    smoother = FaceSmoother(alpha=0.25)
    smoother.update([face(Box(0, 0, 100, 100), 1.0)])
    [smoothed] = smoother.update([face(Box(300, 300, 100, 100), 0.0)])
    assert smoothed.probabilities["happy"] == 0.0


def test_update_matches_each_previous_face_once() -> None:
    smoother = FaceSmoother(alpha=0.5)
    smoother.update([face(Box(0, 0, 100, 100), 1.0)])
    first, second = smoother.update([face(Box(0, 0, 100, 100), 0.0), face(Box(2, 2, 100, 100), 0.0)])
    assert first.probabilities["happy"] == pytest.approx(0.5)
    assert second.probabilities["happy"] == 0.0


def test_smoother_rejects_an_alpha_outside_0_1() -> None:
    with pytest.raises(ValueError):
        FaceSmoother(alpha=0.0)
