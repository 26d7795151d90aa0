"""A stand-in detector for planted scenes, shared by the framing fit's and the pipeline evaluation's tests."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from service.faces.detector import Box, Landmark
from service.faces.framing import Framing
from training.planting import Planted


class ShrunkBoxes:
    """The planted square shrunk by 0.8, moved down a tenth of its side; and a false box."""

    name = "fake"
    framing = Framing()

    def __init__(self, scenes: Sequence[Planted]) -> None:
        self.by_scene = {id(case.scene): case for case in scenes}

    def detect(self, gray: np.ndarray, min_face: int | None = None) -> list[Box]:
        case = self.by_scene[id(gray)]
        side = 0.8 * case.side
        x, y = case.centre[0] - side / 2, case.centre[1] - side / 2 + 0.1 * side
        eyes = (Landmark("right_eye", x, y), Landmark("left_eye", x + side, y))  # level: the fit needs no turn
        return [Box(round(x), round(y), round(side), round(side), eyes), Box(0, 0, 10, 10)]

    def working_bytes(self, height: int, width: int) -> int:
        return 0
