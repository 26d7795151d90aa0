"""Crop framing: how a detector's box maps to the framing of a FER-2013 face.

Every detector draws its box differently (Haar's square sits on the eyebrows and mouth,
BlazeFace's on the forehead and chin), while the classifier was trained on FER-2013 crops.
A :class:`Framing` moves and scales the box so that the crop matches that training framing;
``make fit-framing`` measures it per detector on planted FER-2013 Training faces and stores
it in ``model_store/face_detectors/<detector>/card.json``.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Framing:
    """The crop's centre moves by (dx * w, dy * h) along the face's axes; its sides become scale_x * w, scale_y * h."""

    scale_x: float = 1.0
    scale_y: float = 1.0
    dx: float = 0.0
    dy: float = 0.0

    @property
    def is_identity(self) -> bool:
        return self == NO_FRAMING

    def to_dict(self) -> dict[str, float]:
        return {key: round(value, 4) for key, value in asdict(self).items()}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Framing:
        return cls(**{key: float(data[key]) for key in ("scale_x", "scale_y", "dx", "dy")})


NO_FRAMING = Framing()


def read_card(path: Path) -> dict[str, Any]:
    """A detector card (JSON object); a missing card is an empty one."""
    if not path.is_file():
        return {}
    card = json.loads(path.read_text())
    if not isinstance(card, dict):
        raise ValueError(f"{path}: a detector card must be a JSON object")
    return card


def card_framing(card: dict[str, Any]) -> Framing:
    """The framing measured for a detector, or none when it was not measured."""
    framing = card.get("framing")
    return Framing.from_dict(framing) if isinstance(framing, dict) else NO_FRAMING
