"""The Haar detector: OpenCV's bundled frontal-face cascade (the default detector, no model file)."""

from __future__ import annotations

import threading
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from service.faces.detector import Box, DetectorLoadError
from service.faces.framing import NO_FRAMING, Framing
from service.settings import Settings


def resolve_cascade(name: str) -> Path:
    """A cascade file path, or the name of one of OpenCV's bundled Haar cascades."""
    path = Path(name)
    if path.parent != Path(".") or path.exists():
        return path
    return Path(cv2.data.haarcascades) / name  # type: ignore[attr-defined]


# OpenCV's cascade keeps integral images of every searched pixel: about 35 bytes a pixel (measured
# on the alt2 cascade), held by the classifier until its next call. Counted with a margin.
WORKING_BYTES_PER_PIXEL = 48
# A thread keeps its classifier (loading one takes milliseconds) only after searches up to this
# size, e.g. webcam frames; after a big photo it is dropped, so idle threads hold no big buffers.
KEEP_CLASSIFIER_MAX_PIXELS = 500_000


def _setting(name: str) -> Any:
    """A default of the service settings: they are the one place the Haar search's defaults are chosen."""
    return Settings.model_fields[f"detect_{name}"].default


@dataclass(frozen=True)
class HaarConfig:
    """The ``detect_*`` settings (speed vs smallest face: see :class:`service.settings.Settings`)."""

    cascade: str = _setting("cascade")
    scale_factor: float = _setting("scale_factor")
    min_neighbors: int = _setting("min_neighbors")
    min_face: int = _setting("min_face")
    max_side: int = _setting("max_side")
    max_downscale: int = _setting("max_downscale")

    @classmethod
    def from_settings(cls, settings: Settings) -> HaarConfig:
        return cls(**{f.name: getattr(settings, f"detect_{f.name}") for f in fields(cls)})

    def search_scale(self, height: int, width: int) -> float:
        """How much to shrink an image before the search: to ``max_side``, but never below
        1/``max_downscale`` of the original, so big photos keep their mid-sized faces."""
        long_side = max(height, width)
        return min(1.0, max(self.max_side / long_side, 1.0 / self.max_downscale))


class HaarDetector:
    """Finds faces in a grayscale image with a Haar cascade; large images are searched on a downscaled copy.

    ``cv2.CascadeClassifier`` is not documented as thread-safe, and detection runs in worker
    threads, so every thread gets its own classifier (loading one takes a few milliseconds).
    """

    name = "haar"

    def __init__(self, config: HaarConfig, cascade_path: Path | None = None, framing: Framing = NO_FRAMING) -> None:
        self.config = config
        self.framing = framing
        self.cascade_path = cascade_path or resolve_cascade(config.cascade)
        self._local = threading.local()
        self._classifier()  # fail at startup, not on the first request

    def _classifier(self) -> cv2.CascadeClassifier:
        classifier = getattr(self._local, "classifier", None)
        if classifier is None:
            classifier = cv2.CascadeClassifier(str(self.cascade_path))
            if classifier.empty():
                raise DetectorLoadError(f"cannot load the Haar cascade {self.cascade_path}")
            self._local.classifier = classifier
        return classifier

    def working_bytes(self, height: int, width: int) -> int:
        """Memory a search of a ``height`` x ``width`` image takes at its peak."""
        scale = self.config.search_scale(height, width)
        return round(height * scale) * round(width * scale) * WORKING_BYTES_PER_PIXEL

    def detect(self, gray: np.ndarray, min_face: int | None = None) -> list[Box]:
        """Face boxes in ``gray``'s pixel coordinates, largest first."""
        min_side = min_face or self.config.min_face
        scale = self.config.search_scale(*gray.shape[:2])
        searched = gray
        if scale < 1.0:
            size = (max(1, round(gray.shape[1] * scale)), max(1, round(gray.shape[0] * scale)))
            searched = cv2.resize(gray, size, interpolation=cv2.INTER_AREA)
        scaled_min = max(1, round(min_side * scale))
        found = self._classifier().detectMultiScale(
            searched,
            scaleFactor=self.config.scale_factor,
            minNeighbors=self.config.min_neighbors,
            minSize=(scaled_min, scaled_min),
        )
        if searched.size > KEEP_CLASSIFIER_MAX_PIXELS:
            self._local.classifier = None  # frees the big buffers of this search
        boxes = [self._to_original(rect, scale, gray.shape[:2]) for rect in np.asarray(found).reshape(-1, 4)]
        return sorted(boxes, key=lambda b: b.area, reverse=True)

    @staticmethod
    def _to_original(rect: np.ndarray, scale: float, shape: tuple[int, ...]) -> Box:
        """Map a box found on the downscaled copy back, clipped to the image."""
        x, y, w, h = (float(v) / scale for v in rect)
        x0, y0 = max(0, round(x)), max(0, round(y))
        x1, y1 = min(shape[1], round(x + w)), min(shape[0], round(y + h))
        return Box(x0, y0, x1 - x0, y1 - y0)
