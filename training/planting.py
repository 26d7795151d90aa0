"""FER-2013 faces planted in synthetic scenes: upscaled, rotated and placed at random (seeded).

The truth of every scene is known: the face's centre, side and rotation, its label and its
original 48x48 crop. ``training.fit_framing`` fits each detector's framing on planted Training
faces; the pipeline evaluation (``bench.eval_pipeline``) scores detection and the classification
of the detector's crop against the original crop of the same face on planted PublicTest and
PrivateTest faces.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from service.faces.detector import Box

SCENE_SHAPE = (480, 640)  # a webcam frame
PHOTO = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "photos" / "chelsea.png"  # a cat: no face
SEEDS = {"Training": 11, "PublicTest": 12, "PrivateTest": 13}  # each split's own scenes


@dataclass(frozen=True)
class Planted:
    """A scene with one planted face; ``angle`` is the face's rotation (degrees, counter-clockwise on screen)."""

    scene: np.ndarray
    centre: tuple[float, float]
    side: int
    angle: float
    label: int
    face: np.ndarray  # the original 48x48 FER-2013 crop

    def matches(self, x: float, y: float, w: float, h: float) -> bool:
        """A box whose centre lies on the face and whose size is within half to twice the face's."""
        distance = math.hypot(x + w / 2 - self.centre[0], y + h / 2 - self.centre[1])
        return distance < 0.4 * self.side and 0.5 < math.sqrt(w * h) / self.side < 2.0

    def first_match(self, boxes: Sequence[Box]) -> Box | None:
        """The first of a detector's ``boxes`` that :meth:`matches` this face, if any."""
        return next((box for box in boxes if self.matches(box.x, box.y, box.w, box.h)), None)


def background(rng: np.random.Generator, photo: np.ndarray | None) -> np.ndarray:
    """Smooth blobs, texture and a few rectangles and lines; or, one scene in four, a photo without faces."""
    height, width = SCENE_SHAPE
    if photo is not None and rng.random() < 0.25:
        scene = cv2.resize(photo, (width, height), interpolation=cv2.INTER_LINEAR)
        return scene[:, ::-1].copy() if rng.random() < 0.5 else scene
    blobs = cv2.resize(rng.normal(size=(height // 40, width // 40)), (width, height), interpolation=cv2.INTER_CUBIC)
    texture = cv2.resize(rng.normal(size=(height // 4, width // 4)), (width, height), interpolation=cv2.INTER_LINEAR)
    scene = 120 + 45 * blobs + 12 * texture
    for _ in range(int(rng.integers(2, 8))):
        (x0, x1), (y0, y1) = np.sort(rng.integers(0, width, 2)), np.sort(rng.integers(0, height, 2))
        thickness = -1 if rng.random() < 0.5 else int(rng.integers(1, 6))
        cv2.rectangle(scene, (int(x0), int(y0)), (int(x1), int(y1)), float(rng.uniform(20, 235)), thickness)
    return np.clip(scene, 0, 255).astype(np.uint8)


def plant(scene: np.ndarray, face: np.ndarray, side: int, angle: float, centre: tuple[int, int]) -> None:
    """Upscale ``face`` to ``side`` px, rotate it and blend it into ``scene`` around ``centre`` (in place)."""
    big = cv2.resize(face, (side, side), interpolation=cv2.INTER_CUBIC).astype(np.float32)
    room = int(math.ceil(side * math.sqrt(2))) + 4
    offset = (room - side) // 2
    padded, mask = np.zeros((room, room), np.float32), np.zeros((room, room), np.float32)
    padded[offset : offset + side, offset : offset + side] = big
    mask[offset : offset + side, offset : offset + side] = 1.0
    turn = cv2.getRotationMatrix2D((offset + side / 2, offset + side / 2), angle, 1.0)
    turned = cv2.warpAffine(padded, turn, (room, room), flags=cv2.INTER_LINEAR)
    # A slightly soft edge, so the square's border is not a sharp artificial line.
    alpha = cv2.GaussianBlur(cv2.warpAffine(mask, turn, (room, room), flags=cv2.INTER_LINEAR), (5, 5), 0)
    x0, y0 = centre[0] - offset - side // 2, centre[1] - offset - side // 2
    region = scene[y0 : y0 + room, x0 : x0 + room].astype(np.float32)
    blended = alpha * turned + (1 - alpha) * region
    scene[y0 : y0 + room, x0 : x0 + room] = np.clip(blended, 0, 255).astype(np.uint8)


def planted_scenes(
    faces: np.ndarray, labels: np.ndarray, seed: int, max_angle: float = 25.0, sides: tuple[int, int] = (64, 200)
) -> list[Planted]:
    """One scene per face: side uniform in ``sides``, rotation uniform in +-``max_angle`` degrees."""
    rng = np.random.default_rng(seed)
    photo = cv2.imread(str(PHOTO), cv2.IMREAD_GRAYSCALE)
    height, width = SCENE_SHAPE
    scenes = []
    for face, label in zip(faces, labels, strict=True):
        side = int(rng.integers(*sides))
        angle = float(rng.uniform(-max_angle, max_angle))
        reach = int(math.ceil(side * math.sqrt(2) / 2)) + 4
        centre = (int(rng.integers(reach, width - reach)), int(rng.integers(reach, height - reach)))
        scene = background(rng, photo)
        plant(scene, face, side, angle, centre)
        scenes.append(Planted(scene, (float(centre[0]), float(centre[1])), side, angle, int(label), face))
    return scenes


def planted_split(data: Any, split: str, count: int) -> list[Planted]:
    """``count`` faces (0: all) of a split of the prepared .npz, drawn at random with the split's seed
    (the prepared splits are sorted by label), each planted in its own scene."""
    labels = data[f"{split}_y"]
    chosen = np.sort(np.random.default_rng(SEEDS[split]).permutation(len(labels))[: count or len(labels)])
    return planted_scenes(data[f"{split}_raw"][chosen], labels[chosen], SEEDS[split])
