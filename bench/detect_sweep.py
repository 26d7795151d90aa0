"""Haar detection settings compared: time on the 640x480 benchmark frame and recall on planted faces.

Time is measured twice: with OpenCV on one thread (CPU ms, what the CPU limit counts) and with
OpenCV's default thread pool, one per core, as the service runs it (latency).

Recall uses the committed FER-2013 sample (tests/fixtures/fer2013, about 200 faces): each face is
upscaled to a random side of 60 to 199 px and planted at a random spot of a grey 640x480 canvas
(seeded, so every run sees the same canvases). A face counts as found when a box overlaps it with
IoU > 0.3; any other box is a false detection. FER-2013 crops are tight and low-resolution, so the
absolute recall is low for every setting; the point is the comparison between settings.
"""

from __future__ import annotations

import os
from functools import partial
from typing import Any

import cv2
import numpy as np

from bench.common import REPO_ROOT, r3, time_call
from service.faces.detector import Box
from service.faces.haar import HaarConfig, HaarDetector

FER_SAMPLE = REPO_ROOT / "tests" / "fixtures" / "fer2013"
DEFAULT, ALT2 = "haarcascade_frontalface_default.xml", "haarcascade_frontalface_alt2.xml"
# (cascade, max side, scale factor): the two earlier defaults, the current one, then neighbours.
VARIANTS = (
    (DEFAULT, 1280, 1.1),
    (DEFAULT, 320, 1.2),
    (ALT2, 288, 1.2),
    (ALT2, 256, 1.2),
    (ALT2, 288, 1.25),
    (ALT2, 320, 1.2),
    (ALT2, 400, 1.2),
)
SIZE_BANDS = ((60, 100), (100, 140), (140, 200))


def planted_faces(seed: int = 0) -> list[tuple[np.ndarray, Box]]:
    """Grey 640x480 canvases, each with one upscaled FER-2013 face, and where the face is."""
    rng = np.random.default_rng(seed)
    cases = []
    for path in sorted(FER_SAMPLE.glob("*/*/*.jpg")):
        side = int(rng.integers(60, 200))
        gray = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
        assert gray is not None, f"cannot read {path}"
        face = cv2.resize(gray, (side, side), interpolation=cv2.INTER_CUBIC)
        x, y = int(rng.integers(0, 640 - side)), int(rng.integers(0, 480 - side))
        canvas = np.full((480, 640), 127, np.uint8)
        canvas[y : y + side, x : x + side] = face
        cases.append((canvas, Box(x, y, side, side)))
    return cases


def recall(detector: HaarDetector, cases: list[tuple[np.ndarray, Box]]) -> dict[str, Any]:
    """Found faces per size band, overall, and the number of false detections."""
    found: dict[str, list[bool]] = {f"{lo}-{hi - 1} px": [] for lo, hi in SIZE_BANDS}
    false = 0
    for canvas, truth in cases:
        boxes = detector.detect(canvas)
        hit = sum(box.iou(truth) > 0.3 for box in boxes)
        false += len(boxes) - hit
        band = next(f"{lo}-{hi - 1} px" for lo, hi in SIZE_BANDS if lo <= truth.w < hi)
        found[band].append(hit > 0)
    hits = [h for band in found.values() for h in band]
    return {
        "recall": r3(sum(hits) / len(hits)),
        "recall_by_size": {band: r3(sum(h) / len(h)) for band, h in found.items() if h},
        "planted_faces": len(hits),
        "false_detections": false,
    }


def detect_ms(detector: HaarDetector, frame_gray: np.ndarray, threads: int, min_seconds: float) -> float:
    """Median wall milliseconds of one detection with OpenCV on ``threads`` threads."""
    before = cv2.getNumThreads()
    cv2.setNumThreads(threads)
    try:
        return r3(1000 * float(np.median(time_call(partial(detector.detect, frame_gray), min_seconds))))
    finally:
        cv2.setNumThreads(before)


def sweep(frame_gray: np.ndarray, min_neighbors: int, min_face: int, min_seconds: float) -> list[dict[str, Any]]:
    """One row per variant: ms on the frame (one thread, and all cores), faces on it, recall."""
    cases, cores = planted_faces(), len(os.sched_getaffinity(0))
    rows = []
    for cascade, max_side, scale in VARIANTS:
        detector = HaarDetector(
            HaarConfig(
                cascade=cascade, scale_factor=scale, min_neighbors=min_neighbors, min_face=min_face, max_side=max_side
            )
        )
        row = {
            "cascade": cascade.removeprefix("haarcascade_frontalface_").removesuffix(".xml"),
            "max_side": max_side,
            "scale_factor": scale,
            "ms": detect_ms(detector, frame_gray, 1, min_seconds),
            "latency_ms": detect_ms(detector, frame_gray, cores, min_seconds),
            "faces": len(detector.detect(frame_gray)),
        }
        rows.append(row | recall(detector, cases))
    return rows
