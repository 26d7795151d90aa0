"""Sampled frames -> faces -> tracks -> timeline, through the same analyzer as ``/predict``.

Frames are decoded in a worker thread and analysed a few at a time, so decoding, detection (in
worker threads) and inference (in the shared micro-batches) overlap; results come back in
frame order, which the tracker needs. Every frame counts against the analyzer's in-flight
limit like an uploaded image, so a video cannot starve ``/predict`` of the pipeline.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor

from service.analysis import ImageAnalyzer, InFlight
from service.batching import QueueFullError
from service.inference import DetectOptions, EmotionRecognizer, FacePrediction, Recognition
from service.metrics import Metrics
from service.settings import Settings
from service.tracking import FaceTracker
from service.video.reader import SampledFrame, VideoError, VideoReader
from service.video.timeline import TimelineRow, VideoTimeline

# Per video: enough to keep decoding, detection and batching busy together on a few cores,
# few enough that one video leaves most of the in-flight limit to other requests.
FRAMES_IN_FLIGHT = 4

FrameCallback = Callable[[SampledFrame, list[TimelineRow]], None]


async def analyse_video(
    reader: VideoReader,
    analyzer: ImageAnalyzer,
    options: DetectOptions | None = None,
    on_frame: FrameCallback | None = None,
    allow_truncated: bool = False,
) -> VideoTimeline:
    """Every sampled frame's faces with their track ids; VideoError for a bad or truncated video."""
    tracker = FaceTracker()
    rows: list[TimelineRow] = []
    sampled = 0
    async for frame, faces in _recognised_frames(reader, analyzer, options or DetectOptions()):
        track_ids = tracker.update([face.box for face in faces], frame.time_s)
        frame_rows = [TimelineRow.of(frame, tid, face) for tid, face in zip(track_ids, faces, strict=True)]
        rows.extend(frame_rows)
        sampled += 1
        if on_frame is not None:
            on_frame(frame, frame_rows)
    timeline = VideoTimeline(
        reader.info, tuple(analyzer.recognizer.labels), reader.every, sampled, reader.decoded, rows
    )
    if timeline.truncated and not allow_truncated:
        declared, decoded = reader.info.frame_count, reader.decoded
        raise VideoError(400, f"truncated video: its header declares {declared} frames, only {decoded} could be read")
    return timeline


async def _recognised_frames(
    reader: VideoReader, analyzer: ImageAnalyzer, options: DetectOptions
) -> AsyncIterator[tuple[SampledFrame, list[FacePrediction]]]:
    """(frame, faces) in frame order, with up to FRAMES_IN_FLIGHT frames being analysed at once."""
    frames = reader.frames()
    pending: deque[tuple[SampledFrame, asyncio.Task[Recognition]]] = deque()
    try:
        while (frame := await asyncio.to_thread(_next_frame, frames)) is not None:
            pending.append((frame, asyncio.create_task(analyzer.recognise(frame.gray, options))))
            if len(pending) >= FRAMES_IN_FLIGHT:
                yield await _oldest(pending)
        while pending:
            yield await _oldest(pending)
    finally:
        await _cancel(pending)


def _next_frame(frames: Iterator[SampledFrame]) -> SampledFrame | None:
    """Runs in a worker thread: decoding is blocking work."""
    return next(frames, None)


async def _oldest(
    pending: deque[tuple[SampledFrame, asyncio.Task[Recognition]]],
) -> tuple[SampledFrame, list[FacePrediction]]:
    frame, task = pending[0]
    recognition = await task
    pending.popleft()
    return frame, recognition.faces


async def _cancel(pending: deque[tuple[SampledFrame, asyncio.Task[Recognition]]]) -> None:
    """After a failure (or a client gone), stop the frames still being analysed and let them finish."""
    for _, task in pending:
        task.cancel()
    for _, task in pending:
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task


class VideoJobs:
    """Counts the videos being analysed; one over ``limit`` gets QueueFullError (503 with Retry-After).

    A video holds the pipeline for seconds to minutes, so few may run at once whatever the
    in-flight limit for single images allows.
    """

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.running = 0  # only touched on the event loop thread, so no lock

    @contextlib.contextmanager
    def slot(self) -> Iterator[None]:
        if self.running >= self.limit:
            raise QueueFullError(f"{self.running} videos are already being analysed")
        self.running += 1
        try:
            yield
        finally:
            self.running -= 1


@contextlib.asynccontextmanager
async def standalone_analyzer(recognizer: EmotionRecognizer, settings: Settings) -> AsyncIterator[ImageAnalyzer]:
    """An analyzer outside the server (the command line, tests), built as the app's lifespan builds one."""
    metrics = Metrics()
    in_flight = InFlight(settings.max_in_flight, metrics)
    batcher = recognizer.create_batcher(
        settings.max_batch_size, settings.max_wait_s, settings.max_queue, metrics, upcoming=lambda: in_flight.count
    )
    await batcher.start()
    executor = ThreadPoolExecutor(max_workers=min(32, (os.cpu_count() or 1) + 4), thread_name_prefix="fer-video")
    try:
        yield ImageAnalyzer(recognizer, batcher, in_flight, settings, executor, metrics)
    finally:
        await batcher.stop()
        await asyncio.to_thread(executor.shutdown, wait=True, cancel_futures=True)
