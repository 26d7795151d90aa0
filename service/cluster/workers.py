"""What runs in Ray's workers: an actor class for batches of images, a function for videos.

Neither imports Ray: Ray Data calls them with a batch of ``{"path", "file"}`` rows (``path`` as
the user named it, for the rows; ``file`` absolute, for reading on any node that mounts it) and
takes back an Arrow table. Every failure of one file becomes an error row, so a corrupt or
unreadable file never fails a Ray task, which would retry it and then fail the job.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import pyarrow as pa

from service.decoding import ImageError
from service.files import Row, face_rows
from service.inference import DetectOptions
from service.library import FaceAnalyzer
from service.loading import load_model
from service.schemas import FaceOut
from service.settings import Settings
from service.video.pipeline import analyse_video, standalone_analyzer
from service.video.reader import VideoReader
from service.video.timeline import VideoTimeline

from .tables import error_row, image_columns, table, video_columns, video_rows

Batch = dict[str, np.ndarray]


@dataclass(frozen=True)
class Spec:
    """What every worker needs: the driver's settings (model, detector, store, threads) and the options."""

    settings: Settings
    labels: tuple[str, ...]
    max_faces: int | None = None


class ImageBatches:
    """A Ray Data actor: the model and detectors are loaded once, in ``__init__``, then used for every batch."""

    def __init__(self, spec: Spec) -> None:
        self.spec = spec
        self.analyzer = FaceAnalyzer(settings=spec.settings)
        hold_to_cpus(spec)

    def __call__(self, batch: Batch) -> pa.Table:
        paths = [Path(path) for path in batch["path"]]  # a list may name a file twice: twice its rows, as in process
        files = dict(zip(paths, map(Path, batch["file"]), strict=True))

        def analyze(path: Path) -> list[FaceOut]:
            return self._analyze(files[path])

        rows = face_rows(paths, analyze, self.spec.labels)
        return table(rows, image_columns(self.spec.labels))

    def _analyze(self, file: Path) -> list[FaceOut]:
        """As ``fer analyze`` in process; what it would stop on (a decoder's own exception) is an error row here."""
        try:
            return self.analyzer.analyze(file, max_faces=self.spec.max_faces)
        except (ImageError, OSError):
            raise  # face_rows words these as the in-process run does
        except Exception as exc:
            raise ImageError(422, f"cannot analyse: {type(exc).__name__}: {exc}") from exc


def hold_to_cpus(spec: Spec) -> None:
    """OpenCV's detection threads as many as the CPUs Ray reserved (ONNX Runtime's are set by the settings):
    by default it takes every core of the node, once per actor."""
    cv2.setNumThreads(spec.settings.ort_intra_op_threads)


def video_table(batch: Batch, spec: Spec) -> pa.Table:
    """Ray Data task: the rows of each video in the batch (one video per batch: one task each)."""
    hold_to_cpus(spec)
    names = video_columns(spec.labels)
    rows: list[Row] = []
    for path, file in zip(batch["path"], batch["file"], strict=True):
        try:
            rows += video_rows(str(path), asyncio.run(timeline_of(Path(file), spec)))
        except ImageError as exc:  # VideoError included: not a video, unreadable, too long
            rows.append(error_row(str(path), exc.detail, names))
        except Exception as exc:
            rows.append(error_row(str(path), f"cannot analyse: {type(exc).__name__}: {exc}", names))
    return table(rows, names)


async def timeline_of(file: Path, spec: Spec) -> VideoTimeline:
    """``fer video``'s analysis of every frame (python -m service.video), with no progress bar or files."""
    recognizer = (await asyncio.to_thread(load_model, spec.settings)).recognizer()
    options = DetectOptions(max_faces=spec.max_faces)
    async with standalone_analyzer(recognizer, spec.settings) as analyzer:
        with VideoReader(file) as reader:
            return await analyse_video(reader, analyzer, options, allow_truncated=True)
