"""The face detectors a deployment can use, behind one interface.

Haar (OpenCV's cascade, the default) and BlazeFace (MediaPipe's, in ONNX Runtime) are two
implementations of :class:`Detector`; the service loads both at startup and picks one per
request (``detector`` query option, stream control message) or by ``FER_DETECTOR``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

import numpy as np

from service.blazeface import BlazeFaceDetector
from service.detection import Box, DetectorConfig, FaceDetector
from service.framing import Framing, card_framing, read_card
from service.settings import DetectorName, Settings

DETECTOR_NAMES: tuple[DetectorName, ...] = ("haar", "blazeface")


class Detector(Protocol):
    """Finds faces in a grayscale image: boxes (with landmarks when it has them), largest first."""

    name: str
    framing: Framing  # how its boxes map to FER-2013's framing (service.framing)

    def detect(self, gray: np.ndarray, min_face: int | None = None) -> list[Box]: ...

    def working_bytes(self, height: int, width: int) -> int:
        """Peak memory of one detection on a ``height`` x ``width`` image (for the decode budget)."""
        ...


def detector_store(settings: Settings) -> Path:
    return settings.detector_store or settings.model_store / "face_detectors"


def load_haar(settings: Settings) -> FaceDetector:
    framing = card_framing(read_card(detector_store(settings) / "haar" / "card.json"))
    return FaceDetector(DetectorConfig.from_settings(settings), framing=framing)


def load_blazeface(settings: Settings) -> BlazeFaceDetector:
    return BlazeFaceDetector(
        detector_store(settings) / f"blazeface_{settings.blazeface_range}",
        min_score=settings.blazeface_min_score,
        nms_iou=settings.blazeface_nms_iou,
        threads=settings.blazeface_threads,
    )


def load_detectors(settings: Settings) -> dict[str, Detector]:
    """Every detector, by name; the files are small and committed, so a missing one fails startup."""
    return {"haar": load_haar(settings), "blazeface": load_blazeface(settings)}
