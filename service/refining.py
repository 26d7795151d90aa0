"""The crop refiner: a small ONNX model that turns and shifts each face crop to FER-2013's framing.

A detector's box (framed, and levelled by its eyes where it has them) still sits off the pose
of a FER-2013 face by a few degrees and a few percent from face to face, and the classifier
loses accuracy on such crops. The refiner (``training.refiner``) looks at the crop and predicts
the turn and shift that undo this; each pass cuts the crop again where it says. It sees only a
disc in the middle of the crop, so it judges the face, not the background.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from service.cropping import CropFrame, crop_face, frame_of, warp_crop
from service.detection import Box
from service.framing import Framing
from service.model_store import ModelLoadError, cpu_session
from service.preprocessing import PreprocessConfig, preprocess_face, to_model_input


class CropRefiner:
    """Runs the refiner's model on crops; :meth:`refine` returns the corrected frames."""

    def __init__(self, folder: Path, passes: int = 1, threads: int = 1) -> None:
        card_path = folder / "model.json"
        if not card_path.is_file():
            raise ModelLoadError(f"no crop refiner card at {card_path}")
        card = json.loads(card_path.read_text())
        self.version = str(card["version"])
        self.passes = passes
        self._pre = PreprocessConfig.from_dict(card["preprocessing"])
        self._scale = np.array(card["output"]["output_scale"], np.float32)
        self._input, self._output = card["input"]["name"], card["output"]["name"]
        self._session = cpu_session(folder / card["onnx"]["file"], threads, 1)

    def corrections(self, crops: Sequence[np.ndarray]) -> np.ndarray:
        """(turn degrees, u, v crop sides) for each crop (any size, gray or BGR)."""
        if not crops:
            return np.zeros((0, 3), np.float32)
        inputs = to_model_input(np.stack([preprocess_face(crop, self._pre) for crop in crops]), self._pre)
        return np.asarray(self._session.run([self._output], {self._input: inputs})[0]) * self._scale

    def refine(self, image: np.ndarray, frames: Sequence[CropFrame]) -> list[CropFrame]:
        """``frames`` after ``passes`` rounds of: cut the crop, predict its correction, apply it."""
        refined = list(frames)
        for _ in range(self.passes):
            predicted = self.corrections([warp_crop(image, frame) for frame in refined])
            refined = [frame.corrected(*map(float, row)) for frame, row in zip(refined, predicted, strict=True)]
        return refined


def cut_crops(
    image: np.ndarray, boxes: Sequence[Box], framing: Framing, align: bool, refiner: CropRefiner | None
) -> list[np.ndarray]:
    """The crop of every box: framed and, when ``align``, levelled by its eyes; then refined, with a refiner."""
    if refiner is None or not boxes:
        return [crop_face(image, box, framing, align) for box in boxes]
    frames = refiner.refine(image, [frame_of(box, framing, align) for box in boxes])
    return [warp_crop(image, frame) for frame in frames]
