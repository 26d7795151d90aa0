"""The detector crops of planted Training faces: each crop's label and source face, on the committed sample."""

from __future__ import annotations

import json

import cv2
import numpy as np

from training.detector_crops import DETECTORS
from training.model import INPUT_SHAPE


def coarse(faces: np.ndarray) -> np.ndarray:
    """Faces at 8x8, standardised: what survives the detectors' framing shifting the face by a few pixels."""
    small = np.stack([cv2.resize(face, (8, 8), interpolation=cv2.INTER_AREA) for face in faces]).astype(np.float64)
    small = small.reshape(len(faces), -1)
    return (small - small.mean(1, keepdims=True)) / small.std(1, keepdims=True)


def test_crops_carry_their_source_faces_label_and_the_models_input_shape(sample_crops, prepared_sample):
    with np.load(sample_crops) as crops, np.load(prepared_sample) as data:
        x, y, source, detector = crops["x"], crops["y"], crops["source"], crops["detector"]
        training_faces, training_labels = int(crops["training_faces"]), data["Training_y"]
        meta = json.loads(str(crops["meta"]))
    assert training_faces == len(training_labels) == 70 and meta["planted_faces"] == 70
    assert x.dtype == np.uint8 and x.shape == (len(y), *INPUT_SHAPE[:2])
    assert source.min() >= 0 and source.max() < training_faces
    np.testing.assert_array_equal(y, training_labels[source])
    # Both detectors found faces, each a face at most once.
    assert meta["crops_per_detector"] == {name: int(np.sum(detector == i)) for i, name in enumerate(DETECTORS)}
    assert all(count > 0 for count in meta["crops_per_detector"].values())
    pairs = source * len(DETECTORS) + detector
    assert len(np.unique(pairs)) == len(pairs)
    assert meta["seconds_per_face"] > 0


def test_each_crop_looks_most_like_its_own_source_face_far_above_chance(sample_crops, prepared_sample):
    with np.load(sample_crops) as crops, np.load(prepared_sample) as data:
        x, source, faces = crops["x"], crops["source"], data["Training_x"]
    nearest = (coarse(x) @ coarse(faces).T).argmax(axis=1)
    # 37 % on the sample (chance: 1 in 70); a source off by one face would score about 0.
    assert np.mean(nearest == source) > 0.2
