"""Sampled frames -> faces -> tracks -> timeline, through the same analyzer as ``/predict``.

Frames are decoded in a worker thread and analysed a few at a time, so decoding, detection (in
worker threads) and inference (in the shared micro-batches) overlap; results come back in
frame order, which the tracker needs. Every frame counts against the analyzer's in-flight
limit like an uploaded image, so a video cannot starve ``/predict`` of the pipeline. Its
memory counts against the decode budget: the reader's (FFmpeg's frames, for the whole video)
before the first frame is decoded, and each frame's while it is analysed.

:func:`run_while_connected` owns a job's lifetime: a slot of ``FER_MAX_VIDEO_JOBS`` while it
runs, and cancellation when its client goes away, since nobody would read the answer.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import TypeVar

from starlette.types import Receive

from service.analysis import ImageAnalyzer, in_flight_limit
from service.faces.tracking import FaceTracker
from service.inference import DetectOptions, EmotionRecognizer, FacePrediction, Recognition
from service.leases import Lease, run_holding
from service.limits import Limiter
from service.metrics import Metrics
from service.settings import Settings
from service.video.reader import SampledFrame, VideoError, VideoReader
from service.video.timeline import TimelineRow, VideoTimeline

# Per video: enough to keep decoding, detection and batching busy together on a few cores,
# few enough that one video leaves most of the in-flight limit to other requests.
FRAMES_IN_FLIGHT = 4

FrameCallback = Callable[[SampledFrame, list[TimelineRow]], None]
T = TypeVar("T")
logger = logging.getLogger(__name__)


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
    options = options or DetectOptions()
    # One reservation for the whole job, taken before anything is decoded: the reader's buffers
    # and the frames in flight (a job that held some memory while it waited for more could
    # deadlock with another doing the same).
    frame_bytes = analyzer.frame_bytes(reader.info.height, reader.info.width, options)
    memory = await analyzer.reserve_memory(reader.working_bytes + FRAMES_IN_FLIGHT * frame_bytes)
    try:
        async for frame, faces in _recognised_frames(reader, analyzer, options, memory):
            track_ids = tracker.update([face.box for face in faces], frame.time_s)
            frame_rows = [TimelineRow.of(frame, tid, face) for tid, face in zip(track_ids, faces, strict=True)]
            rows.extend(frame_rows)
            sampled += 1
            if on_frame is not None:
                on_frame(frame, frame_rows)
    finally:
        # The decoder's buffers go with the capture: the memory is given back once it is released.
        await run_holding([memory], analyzer.executor, reader.close)
        memory.drop()
    timeline = VideoTimeline(
        reader.info, tuple(analyzer.recognizer.labels), reader.every, sampled, reader.decoded, rows
    )
    if timeline.truncated and not allow_truncated:
        declared, decoded = reader.info.frame_count, reader.decoded
        raise VideoError(
            400,
            f"truncated video: its header declares {declared} frames, only {decoded} could be read "
            "(a corrupt file, or a frame larger than the pixel limit)",
        )
    return timeline


async def _recognised_frames(
    reader: VideoReader, analyzer: ImageAnalyzer, options: DetectOptions, memory: Lease
) -> AsyncIterator[tuple[SampledFrame, list[FacePrediction]]]:
    """(frame, faces) in frame order, with up to FRAMES_IN_FLIGHT frames being analysed at once.

    The reader's ``memory`` stays held while a decoding thread runs, even one this generator no
    longer waits for (its client left).
    """
    frames = reader.frames()
    pending: deque[tuple[SampledFrame, asyncio.Task[Recognition]]] = deque()
    try:
        while (frame := await run_holding([memory], analyzer.executor, partial(_next_frame, frames))) is not None:
            pending.append((frame, asyncio.create_task(analyzer.recognise(frame.gray, options, memory))))
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


def video_jobs_limit(capacity: int) -> Limiter:
    """The videos being analysed (``FER_MAX_VIDEO_JOBS``).

    A video holds the pipeline for seconds to minutes, so few may run at once whatever the
    in-flight limit for single images allows.
    """
    return Limiter(capacity, "videos are already being analysed")


async def run_while_connected(jobs: Limiter, job: Callable[[], Awaitable[T]], receive: Receive) -> T:
    """``job()`` in a slot of ``jobs`` (QueueFullError if none is free), cancelled if the client
    disconnects first (ClientGoneError).

    ``receive`` is the request's, its body read: what it returns next is the disconnect. The
    slot is given back only once the job has stopped.
    """
    with jobs.slot():
        work = asyncio.ensure_future(job())
        gone = asyncio.ensure_future(_disconnected(receive))
        try:
            await asyncio.wait({work, gone}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (work, gone):
                task.cancel()  # nothing for a finished task
            await asyncio.gather(work, gone, return_exceptions=True)
        if work.cancelled():
            logger.info("video job cancelled: the client went away")
            raise ClientGoneError("the client closed the connection; its video was not analysed further")
        return work.result()


class ClientGoneError(Exception):
    """The client of a job disconnected before its answer (logged with status 499, as nginx does)."""


async def _disconnected(receive: Receive) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass


@contextlib.asynccontextmanager
async def standalone_analyzer(recognizer: EmotionRecognizer, settings: Settings) -> AsyncIterator[ImageAnalyzer]:
    """An analyzer outside the server (the command line, tests), built as the app's lifespan builds one."""
    metrics = Metrics()
    in_flight = in_flight_limit(settings.max_in_flight, metrics)
    batcher = recognizer.create_batcher(
        settings.max_batch_size, settings.max_wait_s, settings.max_queue, metrics, upcoming=lambda: in_flight.running
    )
    await batcher.start()
    executor = ThreadPoolExecutor(max_workers=min(32, (os.cpu_count() or 1) + 4), thread_name_prefix="fer-video")
    try:
        yield ImageAnalyzer(recognizer, batcher, in_flight, settings, executor, metrics)
    finally:
        await batcher.stop()
        await asyncio.to_thread(executor.shutdown, wait=True, cancel_futures=True)
