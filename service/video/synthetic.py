"""Clips with known expressions: face images pasted into frames in a planned order.

The tests plant FER-2013 faces that the committed model classifies confidently and check that
the timeline follows them; the README's timeline plot is a run on such a clip.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from service.video.writer import write_video

BACKGROUND = 128  # mid-gray: no edges for the face detector to take for a face


@dataclass(frozen=True)
class Scene:
    """``frames`` frames showing one grayscale face per person, left to right."""

    faces: Sequence[np.ndarray]
    frames: int


def compose_frame(faces: Sequence[np.ndarray], width: int, height: int, face_side: int, drift: int = 0) -> np.ndarray:
    """A BGR frame with each face scaled to ``face_side`` and centred in its column, shifted by ``drift``."""
    canvas = np.full((height, width), BACKGROUND, np.uint8)
    column = width // len(faces)
    if column < face_side + 2 * abs(drift) or height < face_side:
        raise ValueError(f"{len(faces)} faces of {face_side} px do not fit a {width}x{height} frame")
    for i, face in enumerate(faces):
        scaled = cv2.resize(face, (face_side, face_side), interpolation=cv2.INTER_CUBIC)
        x = i * column + (column - face_side) // 2 + drift
        y = (height - face_side) // 2
        canvas[y : y + face_side, x : x + face_side] = scaled
    return cv2.cvtColor(canvas, cv2.COLOR_GRAY2BGR)


def write_clip(
    path: Path, scenes: Sequence[Scene], fps: float = 10.0, width: int = 320, height: int = 240, face_side: int = 128
) -> Path:
    """Write the scenes one after another; faces sway a few pixels so tracking has motion to follow."""
    frames: list[np.ndarray] = []
    for scene in scenes:
        for _ in range(scene.frames):
            drift = round(4 * math.sin(len(frames) / 3))
            frames.append(compose_frame(scene.faces, width, height, face_side, drift))
    return write_video(path, frames, fps)
