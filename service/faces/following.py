"""Following faces through a stream: re-detect each face near its last box, search the whole frame rarely.

A webcam face moves little between frames, so instead of searching every frame whole, the
stream looks for each face in a region around where it was (its box grown by ``margin`` on
every side, shrunk so the face is about ``FACE_PX`` pixels), which costs a fraction of a
full-frame search. The whole frame is still searched every ``every`` frames, to pick up new
faces, and at once whenever a followed face is not found in its region.
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

from service.faces.detector import Box, Detector

# A followed face is searched at about this size: enough for either detector (Haar's window is
# 20 px, BlazeFace sees the region at 128 px), and the smaller, the cheaper Haar's search (docs/detectors.md).
FACE_PX = 48
SAME_FACE_IOU = 0.5  # two followed boxes overlapping this much found the same face


class FaceFollower:
    """The face boxes of one stream's frames, searched around the previous boxes when it can."""

    def __init__(self, every: int, margin: float) -> None:
        self.every = every
        self.margin = margin
        self.full_searches = 0  # counted for the stream benchmark and tests
        self._boxes: list[Box] = []
        self._since_full = 0

    def reset(self) -> None:
        """Forget the faces (e.g. after the stream switches detector): the next frame is searched whole.

        Called on the event loop while a frame may be in a worker thread: that frame still ends with
        the boxes it found, at worst one more frame is followed before the whole-frame search.
        """
        self._boxes = []

    def detect(self, detector: Detector, gray: np.ndarray, min_face: int | None, max_faces: int | None) -> list[Box]:
        """Faces of this frame, largest first: followed from the last frame, or from a full search."""
        if not self._boxes or self._since_full + 1 >= self.every:
            return self._search_whole(detector, gray, min_face, max_faces)
        followed: list[Box] = []
        for previous in self._boxes:
            box = self._search_near(detector, gray, previous)
            if box is None:  # lost (turned away, occluded, left): look everywhere at once
                return self._search_whole(detector, gray, min_face, max_faces)
            if all(box.iou(other) < SAME_FACE_IOU for other in followed):
                followed.append(box)
        self._since_full += 1
        self._boxes = sorted(followed, key=lambda b: b.area, reverse=True)
        return self._boxes

    def _search_whole(self, detector: Detector, gray: np.ndarray, min_face: int | None, limit: int | None) -> list[Box]:
        self.full_searches += 1
        self._since_full = 0
        self._boxes = detector.detect(gray, min_face)[:limit]
        return self._boxes

    def _search_near(self, detector: Detector, gray: np.ndarray, previous: Box) -> Box | None:
        """The face in a region around ``previous``, or None; the box that overlaps ``previous`` most."""
        grow_x, grow_y = round(self.margin * previous.w), round(self.margin * previous.h)
        left, top = max(0, previous.x - grow_x), max(0, previous.y - grow_y)
        right = min(gray.shape[1], previous.x + previous.w + grow_x)
        bottom = min(gray.shape[0], previous.y + previous.h + grow_y)
        region = gray[top:bottom, left:right]
        scale = min(1.0, FACE_PX / max(1, previous.w))
        if scale < 1.0:
            size = (max(1, round(region.shape[1] * scale)), max(1, round(region.shape[0] * scale)))
            region = cv2.resize(region, size, interpolation=cv2.INTER_AREA)
        smallest = max(1, round(previous.w * scale / 2))  # half the face's size, in the region's pixels
        found = [box.moved(scale, left, top) for box in detector.detect(region, smallest)]
        return _most_overlapping(found, previous)


def _most_overlapping(boxes: Sequence[Box], previous: Box) -> Box | None:
    overlaps = [box.iou(previous) for box in boxes]
    if not overlaps or max(overlaps) <= 0.0:
        return None
    return boxes[int(np.argmax(overlaps))]
