"""The face detectors a deployment can use, behind one interface.

Haar (OpenCV's cascade, the default) and BlazeFace (MediaPipe's, in ONNX Runtime) are two
implementations of :class:`Detector`; the service loads both at startup and picks one per
request (``detector`` query option, stream control message) or by ``FER_DETECTOR``.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Protocol

import numpy as np

from service.blazeface import BlazeFaceDetector
from service.decoding import ImageError
from service.detection import Box, DetectorConfig, FaceDetector
from service.framing import Framing, card_framing, read_card
from service.settings import Settings

logger = logging.getLogger(__name__)


class DetectorUnavailableError(ImageError):
    """A request named a detector this deployment has not loaded (answered 400)."""

    def __init__(self, name: str, loaded: list[str]) -> None:
        super().__init__(400, f"detector {name!r} is not available here: choose one of {loaded}")


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


def load_blazeface(settings: Settings, blazeface_range: str | None = None) -> BlazeFaceDetector:
    """BlazeFace of the configured range (or the one given), with the ``blazeface_*`` settings."""
    return BlazeFaceDetector(
        detector_store(settings) / f"blazeface_{blazeface_range or settings.blazeface_range}",
        min_score=settings.blazeface_min_score,
        nms_iou=settings.blazeface_nms_iou,
        threads=settings.blazeface_threads,
        tile_grid=settings.blazeface_tile_grid,
        min_face=settings.detect_min_face,
    )


def load_detectors(settings: Settings) -> dict[str, Detector]:
    """Every detector whose files are there, by name; the configured one must load or startup fails.

    A ``model_store`` mounted without ``face_detectors/`` (an older deployment's) still serves
    Haar: BlazeFace is then missing from the choices instead of failing startup.
    """
    detectors: dict[str, Detector] = {"haar": load_haar(settings)}
    blazeface_folder = detector_store(settings) / f"blazeface_{settings.blazeface_range}"
    if settings.detector == "blazeface" or blazeface_folder.is_dir():
        detectors["blazeface"] = load_blazeface(settings)
    else:
        logger.warning("no BlazeFace model in %s: only the haar detector is available", blazeface_folder)
    return detectors
