"""The face preprocessing contract shared by training and serving.

Training (``training.prepare``) and the service (``service.inference``) both call
:func:`preprocess_face`, so the pixels a model sees cannot drift between the two.
The parameters are written into every model's metadata and read back by the service.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import cv2
import numpy as np


@dataclass(frozen=True)
class PreprocessConfig:
    """Parameters of the face preprocessing contract."""

    size: int = 48  # FER-2013 faces are 48x48
    clahe_clip_limit: float = 2.0  # contrast limit per tile; 0 disables CLAHE
    clahe_tile_grid: int = 4  # 4x4 tiles of 12x12 px on a 48x48 face
    scale: float = 1.0 / 255.0  # uint8 -> [0, 1]

    def to_dict(self) -> dict[str, Any]:
        """Serialisable form for model metadata."""
        return {
            **asdict(self),
            "color": "grayscale",
            "order": ["grayscale", "resize_area", "clahe", "scale"],
            "layout": "NHWC",
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PreprocessConfig:
        """Read the parameters back from model metadata, ignoring descriptive keys."""
        names = {"size", "clahe_clip_limit", "clahe_tile_grid", "scale"}
        return cls(**{k: v for k, v in data.items() if k in names})


def to_grayscale(image: np.ndarray) -> np.ndarray:
    """Convert a BGR, BGRA or grayscale uint8 image to single-channel grayscale."""
    if image.ndim == 2:
        return image
    if image.shape[2] == 4:
        return cv2.cvtColor(image, cv2.COLOR_BGRA2GRAY)
    if image.shape[2] == 1:
        return image[:, :, 0]
    return cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)


def preprocess_face(face: np.ndarray, cfg: PreprocessConfig) -> np.ndarray:
    """Turn one face crop (any size, gray or BGR uint8) into a (size, size) uint8 face.

    Resizing comes before CLAHE so that a 48x48 FER-2013 image and a large face crop
    from a photo go through the same histogram equalisation at the same scale.
    """
    gray = to_grayscale(face)
    if gray.shape != (cfg.size, cfg.size):
        gray = cv2.resize(gray, (cfg.size, cfg.size), interpolation=cv2.INTER_AREA)
    if cfg.clahe_clip_limit > 0:
        grid = (cfg.clahe_tile_grid, cfg.clahe_tile_grid)
        gray = cv2.createCLAHE(clipLimit=cfg.clahe_clip_limit, tileGridSize=grid).apply(gray)
    return gray


def to_model_input(faces: np.ndarray, cfg: PreprocessConfig) -> np.ndarray:
    """Scale a stack of preprocessed uint8 faces (N, size, size) to float32 (N, size, size, 1)."""
    return (faces.astype(np.float32) * np.float32(cfg.scale))[..., np.newaxis]
