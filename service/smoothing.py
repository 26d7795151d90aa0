"""Per-face temporal smoothing for streams: an exponential moving average of probabilities.

Frame-to-frame predictions on a webcam flicker between neighbouring emotions; averaging each
face's probabilities over recent frames steadies the label. Faces are followed from one frame
to the next by box overlap (IoU), which is enough at webcam frame rates.
"""

from __future__ import annotations

from service.inference import FacePrediction

MIN_IOU = 0.3  # below this, a box is a different face (or the same face after a jump)


class FaceSmoother:
    """Remembers the smoothed faces of the previous frame of one stream."""

    def __init__(self, alpha: float = 0.5, min_iou: float = MIN_IOU) -> None:
        if not 0.0 < alpha <= 1.0:
            raise ValueError(f"alpha must be in (0, 1], got {alpha}")
        self.alpha = alpha
        self.min_iou = min_iou
        self._previous: list[FacePrediction] = []

    def reset(self) -> None:
        self._previous = []

    def update(self, faces: list[FacePrediction]) -> list[FacePrediction]:
        """Blend each face with its match from the previous frame; unmatched faces start fresh."""
        unmatched = list(self._previous)
        smoothed = []
        for face in faces:
            match = self._best_match(face, unmatched)
            if match is None:
                smoothed.append(face)
                continue
            unmatched.remove(match)
            smoothed.append(FacePrediction(face.box, self._blend(face.probabilities, match.probabilities)))
        self._previous = smoothed
        return smoothed

    def _best_match(self, face: FacePrediction, candidates: list[FacePrediction]) -> FacePrediction | None:
        best = max(candidates, key=lambda c: c.box.iou(face.box), default=None)
        return best if best is not None and best.box.iou(face.box) >= self.min_iou else None

    def _blend(self, new: dict[str, float], old: dict[str, float]) -> dict[str, float]:
        mixed = {label: self.alpha * p + (1.0 - self.alpha) * old.get(label, p) for label, p in new.items()}
        total = sum(mixed.values())
        return {label: p / total for label, p in mixed.items()}
