"""A video's emotions over time: one row per face and sampled frame, as CSV or per-track summaries."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from dataclasses import dataclass

from service.faces.detector import Box
from service.inference import FacePrediction
from service.video.reader import SampledFrame, VideoInfo, is_truncated

ID_COLUMNS = ("frame", "time_s", "track_id", "x", "y", "w", "h", "emotion", "confidence")


@dataclass(frozen=True)
class TimelineRow:
    """One face in one sampled frame: when, which track, where, and the probability of each emotion."""

    frame: int
    time_s: float
    track_id: int
    face: FacePrediction

    @classmethod
    def of(cls, frame: SampledFrame, track_id: int, face: FacePrediction) -> TimelineRow:
        return cls(frame.index, round(frame.time_s, 3), track_id, face)

    @property
    def box(self) -> Box:
        return self.face.box

    def csv_values(self, labels: Sequence[str]) -> list[object]:
        box, probs = self.face.box, self.face.probabilities
        identity = [self.frame, self.time_s, self.track_id, box.x, box.y, box.w, box.h, self.face.emotion]
        return [*identity, round(self.face.confidence, 4), *(round(probs[label], 4) for label in labels)]


@dataclass(frozen=True)
class TrackSummary:
    """One person over the video: when they were seen and their mean probabilities."""

    track_id: int
    first_s: float
    last_s: float
    frames: int
    probabilities: dict[str, float]

    @property
    def emotion(self) -> str:
        return max(self.probabilities, key=lambda label: self.probabilities[label])


@dataclass(frozen=True)
class VideoTimeline:
    """Everything the CLI and the endpoint report about one video."""

    info: VideoInfo
    labels: tuple[str, ...]
    every: int
    sampled_frames: int
    decoded_frames: int
    rows: list[TimelineRow]

    @property
    def truncated(self) -> bool:
        return is_truncated(self.info, self.decoded_frames)

    def to_csv(self) -> str:
        """The rows as CSV: identity columns, then one probability column per label in model order."""
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow([*ID_COLUMNS, *self.labels])
        writer.writerows(row.csv_values(self.labels) for row in self.rows)
        return out.getvalue()

    def tracks(self) -> list[TrackSummary]:
        """One summary per track id, in order of first appearance."""
        by_track: dict[int, list[TimelineRow]] = {}
        for row in self.rows:
            by_track.setdefault(row.track_id, []).append(row)
        return [self._summarise(track_id, rows) for track_id, rows in by_track.items()]

    def _summarise(self, track_id: int, rows: list[TimelineRow]) -> TrackSummary:
        mean = {label: sum(r.face.probabilities[label] for r in rows) / len(rows) for label in self.labels}
        return TrackSummary(track_id, rows[0].time_s, rows[-1].time_s, len(rows), mean)
