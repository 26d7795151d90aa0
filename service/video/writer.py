"""Writing videos with OpenCV's VideoWriter: the annotated output of ``python -m service.video``."""

from __future__ import annotations

from pathlib import Path

import cv2

from service.annotate import annotate
from service.video.reader import SampledFrame
from service.video.timeline import TimelineRow

# Codecs OpenCV's bundled FFmpeg can encode (it has no H.264 encoder): MPEG-4 part 2 in MP4/MOV,
# VP8 in WebM (plays in browsers), Motion JPEG in AVI.
FOURCC_BY_SUFFIX = {".mp4": "mp4v", ".mov": "mp4v", ".m4v": "mp4v", ".webm": "VP80", ".avi": "MJPG"}


def open_writer(path: Path, fps: float, width: int, height: int) -> cv2.VideoWriter:
    """A VideoWriter for ``path``, its codec chosen by the file suffix; ValueError if it cannot be written."""
    fourcc = FOURCC_BY_SUFFIX.get(path.suffix.lower())
    if fourcc is None:
        raise ValueError(f"{path}: write a video as one of {', '.join(FOURCC_BY_SUFFIX)}")
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*fourcc), fps, (width, height))
    if not writer.isOpened():
        raise ValueError(f"{path}: OpenCV cannot write {fourcc} video here")
    return writer


class AnnotatedVideo:
    """Each sampled frame with its faces' boxes labelled "#track emotion confidence"."""

    def __init__(self, path: Path, fps: float, width: int, height: int) -> None:
        self.path = path
        self._writer = open_writer(path, fps, width, height)

    def write(self, frame: SampledFrame, rows: list[TimelineRow]) -> None:
        labels = [f"#{row.track_id} {row.face.emotion} {row.face.confidence:.2f}" for row in rows]
        rgb = cv2.cvtColor(frame.bgr, cv2.COLOR_BGR2RGB)
        self._writer.write(annotate(rgb, [row.face for row in rows], labels))

    def close(self) -> None:
        self._writer.release()
