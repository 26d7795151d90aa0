"""MediaPipe's BlazeFace face detector (converted to ONNX) run with ONNX Runtime.

The network sees the image letterboxed into a square of ``size`` pixels (128 short range,
192 full range) and scores one box with 6 keypoints per SSD anchor. Decoding follows
MediaPipe's ``TensorsToDetectionsCalculator``: offsets are in input pixels relative to the
anchor centre, anchors have a fixed unit size. Overlapping boxes are merged by OpenCV's
non-maximum suppression, and boxes and keypoints are mapped back to the original image.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import cv2
import numpy as np

from service.faces.detector import Box, DetectorLoadError, Landmark
from service.faces.framing import Framing, card_framing, read_card
from service.model_store import cpu_session

RAW_SCORE_LIMIT = 80.0  # MediaPipe clips logits before the sigmoid; 80 keeps exp() finite in float32
# Activations of one run, as an upper bound: 64 float32 channels at the input resolution.
ACTIVATION_CHANNELS = 64
# Tiles are searched on images at least this many times the input side; each tile is this
# fraction of the image's long side (2x2 tiles of 384 px on a 640x480 frame, overlapping by 128).
TILE_MIN_RATIO = 2.5
TILE_SIDE = 0.6


def ssd_anchors(size: int, strides: list[int], per_cell_and_layer: int, offset: float = 0.5) -> np.ndarray:
    """Anchor centres (N, 2) in [0, 1], in the order the network emits its boxes.

    Consecutive layers with the same stride share one feature map, each adding its anchors
    to every cell (MediaPipe's ``SsdAnchorsCalculator`` with fixed anchor size).
    """
    centres: list[tuple[float, float]] = []
    layer = 0
    while layer < len(strides):
        same = layer
        while same < len(strides) and strides[same] == strides[layer]:
            same += 1
        cells = size // strides[layer]
        repeats = per_cell_and_layer * (same - layer)
        for y in range(cells):
            for x in range(cells):
                centres.extend([((x + offset) / cells, (y + offset) / cells)] * repeats)
        layer = same
    return np.array(centres, dtype=np.float32)


class BlazeFaceDetector:
    """Faces with their 6 keypoints, largest first; thread-safe (ONNX Runtime sessions are)."""

    name = "blazeface"

    def __init__(
        self,
        folder: Path,
        min_score: float = 0.5,
        nms_iou: float = 0.3,
        threads: int = 1,
        tile_grid: int = 2,
        min_face: int = 1,
    ) -> None:
        self.card = read_card(folder / "card.json")
        if not self.card or not (folder / "model.onnx").is_file():
            raise DetectorLoadError(f"no BlazeFace model in {folder} (expected card.json and model.onnx)")
        self.size = int(self.card["input"]["size"])
        anchors: dict[str, Any] = self.card["anchors"]
        self.anchors = ssd_anchors(self.size, anchors["strides"], anchors["per_cell_and_layer"], anchors["offset"])
        self.keypoints: list[str] = list(self.card["keypoints"])
        self.framing: Framing = card_framing(self.card)
        self.min_score = min_score
        self.nms_iou = nms_iou
        self.tile_grid = tile_grid
        self.min_face = min_face
        self._session = cpu_session(folder / "model.onnx", threads, 1)
        self._input = self._session.get_inputs()[0].name

    def working_bytes(self, height: int, width: int) -> int:
        """Memory one detection takes at its peak: the shrunk copy, the input tensor and activations."""
        return self.size * self.size * (1 + 3 * 4 + ACTIVATION_CHANNELS * 4)

    def detect(self, gray: np.ndarray, min_face: int | None = None) -> list[Box]:
        """Face boxes in ``gray``'s pixel coordinates, largest first, each with its keypoints.

        The whole image is searched, then (for images much larger than the network's input)
        overlapping tiles of it: shrunk whole into 128 px, a 640x480 frame keeps its faces
        under ~100 px at less than 20 px, too small for the network; a tile keeps them 1.7x larger.
        """
        found = [self._candidates(gray, 0, 0)]
        found += [self._candidates(gray[y : y + side, x : x + side], x, y) for x, y, side in self.tiles(gray.shape)]
        decoded = np.concatenate([points for points, _ in found])
        scores = np.concatenate([score for _, score in found])
        if len(scores) == 0:
            return []
        boxes = [self._to_box(points, gray.shape[:2]) for points in decoded[self._suppress(decoded, scores)]]
        smallest = min_face or self.min_face
        kept = [box for box in boxes if box.w >= smallest and box.h > 0]
        return sorted(kept, key=lambda b: b.area, reverse=True)

    def tiles(self, shape: tuple[int, ...]) -> list[tuple[int, int, int]]:
        """(x, y, side) of ``tile_grid`` x ``tile_grid`` overlapping square tiles; none for small images."""
        height, width = shape[:2]
        if self.tile_grid < 2 or max(height, width) < TILE_MIN_RATIO * self.size:
            return []
        side = min(height, width, round(max(height, width) * TILE_SIDE))
        xs = np.linspace(0, width - side, self.tile_grid).round().astype(int)
        ys = np.linspace(0, height - side, self.tile_grid).round().astype(int)
        return [(int(x), int(y), side) for y in ys for x in xs]

    def _candidates(self, gray: np.ndarray, left: int, top: int) -> tuple[np.ndarray, np.ndarray]:
        """Boxes scoring at least ``min_score`` as (N, 8, 2) rows of centre, size and keypoints in image pixels."""
        tensor, scale = self._letterbox(gray)
        raw_boxes, raw_scores = self._session.run(None, {self._input: tensor})
        logits = np.clip(raw_scores.reshape(-1), -RAW_SCORE_LIMIT, RAW_SCORE_LIMIT)
        scores = 1.0 / (1.0 + np.exp(-logits))
        found = np.flatnonzero(scores >= self.min_score)
        # Offsets in input pixels from the anchor centre -> [0, 1] of the letterbox -> image pixels.
        decoded = raw_boxes.reshape(-1, raw_boxes.shape[-1] // 2, 2)[found] / self.size
        decoded[:, 0] += self.anchors[found]
        decoded[:, 2:] += self.anchors[found][:, None, :]
        decoded *= self.size / scale
        decoded[:, 0] += (left, top)
        decoded[:, 2:] += (left, top)
        return decoded, scores[found]

    def _letterbox(self, gray: np.ndarray) -> tuple[np.ndarray, float]:
        """The image shrunk into the top-left of a black square, as RGB in [-1, 1]; and the scale used."""
        height, width = gray.shape[:2]
        scale = self.size / max(height, width)
        size = (max(1, round(width * scale)), max(1, round(height * scale)))
        shrunk = cv2.resize(gray, size, interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)
        square = np.zeros((self.size, self.size), np.uint8)
        square[: size[1], : size[0]] = shrunk
        tensor = square.astype(np.float32) * np.float32(2 / 255) - np.float32(1)
        return np.repeat(tensor[None, :, :, None], 3, axis=3), scale

    def _suppress(self, decoded: np.ndarray, scores: np.ndarray) -> np.ndarray:
        """Indices of the boxes kept by non-maximum suppression (OpenCV's NMSBoxes)."""
        centres, sizes = decoded[:, 0], decoded[:, 1]
        rects = np.concatenate([centres - sizes / 2, sizes], axis=1)
        kept = cv2.dnn.NMSBoxes(rects.tolist(), scores.tolist(), self.min_score, self.nms_iou)
        return np.asarray(kept, dtype=np.int64).reshape(-1)

    def _to_box(self, points: np.ndarray, shape: tuple[int, ...]) -> Box:
        """A (centre, size, keypoints...) row -> a box clipped to the image, keypoints unclipped."""
        (centre_x, centre_y), (width, height) = points[0], points[1]
        x0, y0 = max(0, round(centre_x - width / 2)), max(0, round(centre_y - height / 2))
        x1, y1 = min(shape[1], round(centre_x + width / 2)), min(shape[0], round(centre_y + height / 2))
        named = zip(self.keypoints, points[2:], strict=True)
        marks = tuple(Landmark(name, float(x), float(y)) for name, (x, y) in named)
        return Box(x0, y0, x1 - x0, y1 - y0, marks)
