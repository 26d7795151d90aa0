"""Draw face boxes with their emotion and confidence onto the image (``/predict?annotate=true``)."""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

from service.inference import FacePrediction

BOX_COLOR = (0, 200, 255)  # BGR amber: visible on skin, sky and dark backgrounds alike
TEXT_COLOR = (0, 0, 0)
LANDMARK_COLOR = (255, 120, 0)  # BGR blue: stands apart from the amber box
JPEG_QUALITY = 90


def annotate(pixels: np.ndarray, faces: Sequence[FacePrediction], labels: Sequence[str] | None = None) -> np.ndarray:
    """A BGR copy of ``pixels`` (gray or RGB) with one labelled box per face (default label: emotion and confidence)."""
    canvas = cv2.cvtColor(pixels, cv2.COLOR_GRAY2BGR) if pixels.ndim == 2 else cv2.cvtColor(pixels, cv2.COLOR_RGB2BGR)
    # Line width and font grow with the image, so labels stay readable on large photos.
    thickness = max(1, round(max(canvas.shape[:2]) / 400))
    font_scale = max(0.4, max(canvas.shape[:2]) / 1000)
    for index, face in enumerate(faces):
        label = labels[index] if labels is not None else f"{face.emotion} {face.confidence:.2f}"
        _draw_face(canvas, face, label, thickness, font_scale)
    return canvas


def _draw_face(canvas: np.ndarray, face: FacePrediction, label: str, thickness: int, font_scale: float) -> None:
    box = face.box
    cv2.rectangle(canvas, (box.x, box.y), (box.x + box.w, box.y + box.h), BOX_COLOR, thickness)
    for point in box.landmarks:
        cv2.circle(canvas, (round(point.x), round(point.y)), thickness + 1, LANDMARK_COLOR, cv2.FILLED)
    (text_w, text_h), baseline = cv2.getTextSize(label, cv2.FONT_HERSHEY_SIMPLEX, font_scale, thickness)
    # Above the box when there is room, otherwise just inside its top edge.
    top = box.y - text_h - baseline - 2 if box.y >= text_h + baseline + 2 else box.y
    cv2.rectangle(canvas, (box.x, top), (box.x + text_w + 4, top + text_h + baseline + 2), BOX_COLOR, cv2.FILLED)
    origin = (box.x + 2, top + text_h + 1)
    cv2.putText(canvas, label, origin, cv2.FONT_HERSHEY_SIMPLEX, font_scale, TEXT_COLOR, thickness, cv2.LINE_AA)


def encode_jpeg(bgr: np.ndarray, quality: int = JPEG_QUALITY) -> bytes:
    ok, buffer = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise RuntimeError("JPEG encoding failed")
    return buffer.tobytes()
