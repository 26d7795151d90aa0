"""Detection and crop scoring on planted scenes."""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from service.faces.crops import crop_face
from service.faces.detector import Box, Detector, Landmark
from service.faces.framing import Framing
from service.inference import EmotionRecognizer
from training.planting import Planted


@dataclass(frozen=True)
class Detections:
    """What one detector found on a list of scenes: the matched box per scene (or None)."""

    matched: list[Box | None]
    false_detections: int
    cpu_ms: float  # mean CPU (this thread) per scene

    @property
    def found(self) -> list[int]:
        return [index for index, box in enumerate(self.matched) if box is not None]


class PlantedSquares:
    """The oracle "detector": each scene's planted square, exactly, with eye points on its rotated top edge.

    Its aligned crop is the planted face turned upright at its own size: what a perfect detector
    could give. Against the original crops it measures what planting and resampling alone cost.
    """

    name = "planted square (exact)"
    framing = Framing()

    def __init__(self, scenes: Sequence[Planted]) -> None:
        self._by_scene = {id(case.scene): case for case in scenes}

    def detect(self, gray: np.ndarray, min_face: int | None = None) -> list[Box]:
        case = self._by_scene[id(gray)]
        (x, y), half = case.centre, case.side / 2
        # Counter-clockwise on screen by ``angle`` (y points down): the left eye (+half) rises.
        cos, sin = math.cos(math.radians(case.angle)), math.sin(math.radians(case.angle))
        eyes = tuple(Landmark(name, x + d * cos, y - d * sin) for name, d in (("right_eye", -half), ("left_eye", half)))
        return [Box(round(x - half), round(y - half), case.side, case.side, eyes)]

    def working_bytes(self, height: int, width: int) -> int:
        return 0


def detect_all(detector: Detector, scenes: Sequence[Planted]) -> Detections:
    matched: list[Box | None] = []
    false, cpu = 0, 0.0
    for case in scenes:
        began = time.thread_time()
        boxes = detector.detect(case.scene)
        cpu += time.thread_time() - began
        match = case.first_match(boxes)
        matched.append(match)
        false += len(boxes) - (match is not None)
    return Detections(matched, false, 1000 * cpu / max(1, len(scenes)))


def predicted_labels(recognizer: EmotionRecognizer, crops: Sequence[np.ndarray]) -> np.ndarray:
    """The label index the model gives each crop (any size: the shared preprocessing resizes)."""
    if not crops:
        return np.zeros(0, np.int64)
    faces = recognizer.predict_faces(crops)
    return np.array([recognizer.labels.index(face.emotion) for face in faces])


def crop_accuracy(
    recognizer: EmotionRecognizer,
    scenes: Sequence[Planted],
    detections: Detections,
    framing: Framing,
    align: bool,
    on_originals: np.ndarray,
    splits: dict[str, range] | None = None,
) -> dict[str, Any]:
    """Accuracy on the detector's crops and on the original crops of the same faces, and their agreement.

    ``on_originals`` is the label predicted for every scene's original crop (computed once per model);
    ``splits`` names ranges of scenes (PublicTest, PrivateTest) also scored on their own, so that a
    choice can be made on PublicTest alone.
    """
    found = np.array(detections.found, dtype=np.int64)
    crops = [crop_face(scenes[i].scene, found_box(detections, i), framing, align) for i in found]
    on_crops = predicted_labels(recognizer, crops)
    labels = np.array([scenes[index].label for index in found])
    originals = on_originals[found]
    scores: dict[str, Any] = paired_accuracy(on_crops, originals, labels)
    for split, indices in (splits or {}).items():
        inside = np.isin(found, np.asarray(indices))
        scores[split] = paired_accuracy(on_crops[inside], originals[inside], labels[inside])
    # Where the gap comes from: small faces leave a detector few pixels, tilted ones are hard to level.
    sides = np.array([scenes[index].side for index in found], float)
    angles = np.array([abs(scenes[index].angle) for index in found], float)
    scores["by_face_side_px"] = binned(on_crops, originals, labels, sides, SIDE_BINS)
    scores["by_abs_angle_deg"] = binned(on_crops, originals, labels, angles, ANGLE_BINS)
    return scores


def found_box(detections: Detections, index: int) -> Box:
    box = detections.matched[index]
    assert box is not None, "only found faces are cropped"
    return box


SIDE_BINS = (64, 100, 140, 200)  # planted face sides, px
ANGLE_BINS = (0, 8, 16, 26)  # absolute rotation, degrees


def binned(
    on_crops: np.ndarray, on_originals: np.ndarray, labels: np.ndarray, values: np.ndarray, edges: Sequence[float]
) -> dict[str, dict[str, float]]:
    """:func:`paired_accuracy` of the faces whose ``values`` fall in each ``[lo, hi)`` of ``edges``."""
    scores = {}
    for low, high in zip(edges[:-1], edges[1:], strict=True):
        inside = (values >= low) & (values < high)
        scores[f"{low}-{high}"] = {"faces": int(inside.sum())} | paired_accuracy(
            on_crops[inside], on_originals[inside], labels[inside]
        )
    return scores


def paired_accuracy(on_crops: np.ndarray, on_originals: np.ndarray, labels: np.ndarray) -> dict[str, float]:
    """Both accuracies, their agreement, and the gap (crops minus originals) with its standard error.

    The two predictions are of the same faces, so the gap's error comes from the faces where
    exactly one of them is right: the standard error of the mean per-face difference (+1, 0, -1).
    """
    if not len(labels):
        return {"accuracy_crops": 0.0, "accuracy_originals": 0.0, "agreement": 0.0, "gap": 0.0, "gap_se": 0.0}
    difference = (on_crops == labels).astype(float) - (on_originals == labels).astype(float)
    spread = float(difference.std(ddof=1)) if len(labels) > 1 else 0.0
    return {
        "accuracy_crops": 100 * float(np.mean(on_crops == labels)),
        "accuracy_originals": 100 * float(np.mean(on_originals == labels)),
        "agreement": 100 * float(np.mean(on_crops == on_originals)),
        "gap": 100 * float(difference.mean()),
        "gap_se": 100 * spread / math.sqrt(len(labels)),
    }
