"""What every face detector gives and how it is called: boxes with landmarks, behind one interface.

Haar (:mod:`service.faces.haar`, OpenCV's cascade, the default) and BlazeFace
(:mod:`service.faces.blazeface`, MediaPipe's, in ONNX Runtime) are two implementations of
:class:`Detector`; the service loads both at startup (:mod:`service.faces.loading`) and picks one
per request (``detector`` query option, stream control message) or by ``FER_DETECTOR``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple, Protocol

import numpy as np

from service.decoding import ImageError
from service.faces.framing import Framing


class DetectorLoadError(RuntimeError):
    """A detector's files (a Haar cascade, a BlazeFace model) are missing or unreadable."""


class DetectorUnavailableError(ImageError):
    """A request named a detector this deployment has not loaded (answered 400)."""

    def __init__(self, name: str, loaded: list[str]) -> None:
        super().__init__(400, f"detector {name!r} is not available here: choose one of {loaded}")


class Landmark(NamedTuple):
    """A named face keypoint (e.g. ``right_eye``: the person's right eye) in original-image pixels."""

    name: str
    x: float
    y: float


@dataclass(frozen=True)
class Box:
    """A face rectangle in original-image pixels, with the keypoints of detectors that find them."""

    x: int
    y: int
    w: int
    h: int
    # Not part of equality: a box is the same face rectangle whoever found it.
    landmarks: tuple[Landmark, ...] = field(default=(), compare=False)

    @property
    def area(self) -> int:
        return self.w * self.h

    def iou(self, other: Box) -> float:
        """Intersection over union, 0 for disjoint boxes."""
        inter_w = max(0, min(self.x + self.w, other.x + other.w) - max(self.x, other.x))
        inter_h = max(0, min(self.y + self.h, other.y + other.h) - max(self.y, other.y))
        inter = inter_w * inter_h
        union = self.area + other.area - inter
        return inter / union if union > 0 else 0.0

    def as_dict(self) -> dict[str, int]:
        return {"x": self.x, "y": self.y, "w": self.w, "h": self.h}

    def moved(self, scale: float, left: float, top: float) -> Box:
        """This box found on a part of an image shrunk by ``scale``, in the whole image's pixels."""
        marks = tuple(Landmark(p.name, p.x / scale + left, p.y / scale + top) for p in self.landmarks)
        x, y = round(self.x / scale + left), round(self.y / scale + top)
        return Box(x, y, round(self.w / scale), round(self.h / scale), marks)

    def landmark(self, name: str) -> Landmark | None:
        return next((point for point in self.landmarks if point.name == name), None)


class Detector(Protocol):
    """Finds faces in a grayscale image: boxes (with landmarks when it has them), largest first."""

    name: str
    framing: Framing  # how its boxes map to FER-2013's framing (service.faces.framing)

    def detect(self, gray: np.ndarray, min_face: int | None = None) -> list[Box]: ...

    def working_bytes(self, height: int, width: int) -> int:
        """Peak memory of one detection on a ``height`` x ``width`` image (for the decode budget)."""
        ...
