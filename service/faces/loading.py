"""Loading the face detectors a deployment can use, from their folder of the model store.

Each detector's card (``<detector_store>/<name>/card.json``) holds its measured framing; BlazeFace's
folder holds its ONNX model too. Haar needs no model file: OpenCV bundles its cascades.
"""

from __future__ import annotations

import logging
from pathlib import Path

from service.faces.blazeface import BlazeFaceDetector
from service.faces.detector import Detector
from service.faces.framing import card_framing, read_card
from service.faces.haar import HaarConfig, HaarDetector
from service.settings import Settings

logger = logging.getLogger(__name__)


def detector_store(settings: Settings) -> Path:
    return settings.detector_store or settings.model_store / "face_detectors"


def load_haar(settings: Settings) -> HaarDetector:
    framing = card_framing(read_card(detector_store(settings) / "haar" / "card.json"))
    return HaarDetector(HaarConfig.from_settings(settings), framing=framing)


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
