"""Face tracks: a stable id for each person across the frames of a video or a stream.

IoU matching with an optimal assignment (the Hungarian algorithm, scipy's
``linear_sum_assignment``), the matching step of SORT without its motion model: at the frame
rates faces are sampled at, a face moves little between frames, so box overlap alone tells
people apart, and the optimal assignment (unlike greedy matching) does not swap two people
whose boxes touch. A track whose face is missing for longer than ``max_gap_s`` ends; a face
that comes back after that gets a new id.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.optimize import linear_sum_assignment

from service.faces.detector import Box

MIN_IOU = 0.3  # below this overlap two boxes are different faces (as in service.smoothing)
MAX_GAP_S = 1.0  # a face may be missed (blink, turned head, failed detection) this long


@dataclass
class _Track:
    track_id: int
    box: Box
    last_seen_s: float


class FaceTracker:
    """Assigns track ids (1, 2, ...) to the face boxes of successive frames."""

    def __init__(self, min_iou: float = MIN_IOU, max_gap_s: float = MAX_GAP_S) -> None:
        self.min_iou = min_iou
        self.max_gap_s = max_gap_s
        self._tracks: list[_Track] = []
        self._next_id = 1

    def update(self, boxes: Sequence[Box], time_s: float) -> list[int]:
        """The track id of each box of the frame at ``time_s`` (seconds, never decreasing)."""
        self._tracks = [t for t in self._tracks if time_s - t.last_seen_s <= self.max_gap_s]
        ids: list[int | None] = [None] * len(boxes)
        for track_index, box_index in self._match(boxes):
            track = self._tracks[track_index]
            track.box, track.last_seen_s = boxes[box_index], time_s
            ids[box_index] = track.track_id
        for box_index, box in enumerate(boxes):
            if ids[box_index] is None:
                ids[box_index] = self._start(box, time_s)
        return [track_id for track_id in ids if track_id is not None]

    def _match(self, boxes: Sequence[Box]) -> list[tuple[int, int]]:
        """(track index, box index) pairs of the assignment with the most total overlap."""
        if not self._tracks or not boxes:
            return []
        overlap = np.array([[track.box.iou(box) for box in boxes] for track in self._tracks])
        rows, cols = linear_sum_assignment(overlap, maximize=True)
        return [(int(r), int(c)) for r, c in zip(rows, cols, strict=True) if overlap[r, c] >= self.min_iou]

    def _start(self, box: Box, time_s: float) -> int:
        track = _Track(self._next_id, box, time_s)
        self._next_id += 1
        self._tracks.append(track)
        return track.track_id
