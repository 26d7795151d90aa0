"""service.video.timeline: rows as CSV with one probability column per label, and per-track summaries."""

import csv
import io

import pytest

from service.faces.detector import Box
from service.inference import FacePrediction
from service.video.reader import VideoInfo
from service.video.timeline import TimelineRow, VideoTimeline

LABELS = ("happy", "sad")


def row(frame: int, track_id: int, happy: float) -> TimelineRow:
    face = FacePrediction(Box(10 * frame, 5, 40, 40), {"happy": happy, "sad": 1 - happy})
    return TimelineRow(frame, frame / 10, track_id, face)


@pytest.fixture
def timeline() -> VideoTimeline:
    rows = [row(0, 1, 0.9), row(0, 2, 0.2), row(1, 1, 0.7), row(2, 2, 0.4)]
    return VideoTimeline(VideoInfo(320, 160, 10.0, 3), LABELS, every=1, sampled_frames=3, decoded_frames=3, rows=rows)


def test_to_csv_writes_identity_columns_then_one_column_per_label(timeline: VideoTimeline) -> None:
    table = list(csv.reader(io.StringIO(timeline.to_csv())))
    assert table[0] == ["frame", "time_s", "track_id", "x", "y", "w", "h", "emotion", "confidence", "happy", "sad"]
    assert table[1] == ["0", "0.0", "1", "0", "5", "40", "40", "happy", "0.9", "0.9", "0.1"]
    assert table[4] == ["2", "0.2", "2", "20", "5", "40", "40", "sad", "0.6", "0.4", "0.6"]
    assert len(table) == 5


def test_tracks_summarise_each_track_in_order_of_appearance(timeline: VideoTimeline) -> None:
    first, second = timeline.tracks()
    assert (first.track_id, first.first_s, first.last_s, first.frames) == (1, 0.0, 0.1, 2)
    assert first.probabilities["happy"] == pytest.approx(0.8) and first.emotion == "happy"
    assert (second.track_id, second.first_s, second.last_s, second.frames) == (2, 0.0, 0.2, 2)
    assert second.probabilities["sad"] == pytest.approx(0.7) and second.emotion == "sad"


def test_truncated_compares_decoded_frames_with_the_declared_count() -> None:
    info = VideoInfo(320, 160, 10.0, 30)
    assert VideoTimeline(info, LABELS, 1, 14, 14, []).truncated
    assert not VideoTimeline(info, LABELS, 1, 29, 29, []).truncated  # a frame short: rounding, not truncation
