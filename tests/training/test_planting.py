"""Planted scenes: FER-2013 faces upscaled, turned and placed at random, with their truth."""

from __future__ import annotations

import math

import numpy as np

from service.faces.detector import Box
from training.planting import SCENE_SHAPE, planted_scenes, planted_split


def fake_faces(count: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    return rng.integers(0, 256, (count, 48, 48), dtype=np.uint8), np.arange(count) % 7


def test_planted_scenes_are_seeded_and_hold_their_face() -> None:
    faces, labels = fake_faces(4)
    first, again = planted_scenes(faces, labels, seed=3), planted_scenes(faces, labels, seed=3)
    assert all(np.array_equal(a.scene, b.scene) for a, b in zip(first, again, strict=True))
    for case in first:
        assert case.scene.shape == SCENE_SHAPE and 64 <= case.side < 200 and abs(case.angle) <= 25
        reach = case.side * math.sqrt(2) / 2
        assert reach <= case.centre[0] <= SCENE_SHAPE[1] - reach and reach <= case.centre[1] <= SCENE_SHAPE[0] - reach


def test_planted_matches_a_box_on_the_face_only() -> None:
    case = planted_scenes(*fake_faces(1), seed=1)[0]
    x, y = case.centre
    assert case.matches(x - case.side / 2, y - case.side / 2, case.side, case.side)
    assert not case.matches(x + case.side, y, case.side, case.side)  # beside the face
    assert not case.matches(x - case.side, y - case.side, 2.5 * case.side, 2.5 * case.side)  # far too big


def test_first_match_skips_boxes_off_the_face() -> None:
    case = planted_scenes(*fake_faces(1), seed=1)[0]
    (x, y), side = case.centre, case.side
    on_face = Box(round(x - side / 2), round(y - side / 2), side, side)
    assert case.first_match([Box(0, 0, 10, 10), on_face]) == on_face
    assert case.first_match([Box(0, 0, 10, 10)]) is None


def test_planted_split_draws_each_split_with_its_own_seed() -> None:
    faces, labels = fake_faces(6)
    data = {"PublicTest_raw": faces, "PublicTest_y": labels, "PrivateTest_raw": faces, "PrivateTest_y": labels}
    public, again = planted_split(data, "PublicTest", 4), planted_split(data, "PublicTest", 4)
    assert len(public) == 4 and [case.label for case in public] == [case.label for case in again]
    private = planted_split(data, "PrivateTest", 0)  # 0: every face
    assert len(private) == 6 and not np.array_equal(public[0].scene, private[0].scene)
