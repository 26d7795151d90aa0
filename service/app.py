"""The FastAPI application factory and its lifespan (model loading, warm-up, shutdown).

Nothing happens at import time: :func:`create_app` builds an app from settings, and the
lifespan loads the model when the server starts, keeping everything on ``app.state``.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from functools import partial

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles
from fastapi_offline import FastAPIOffline

from service.analysis import ImageAnalyzer, in_flight_limit
from service.api.routes import api_router
from service.api.routes.pages import STATIC_DIR
from service.api.routes.video import VIDEO_PATH
from service.errors import register_error_handlers
from service.loading import load_model
from service.metrics import Metrics
from service.middleware import PathBodyLimits, RequestMetricsMiddleware, TrailingSlash
from service.request_ids import add_request_id_middleware
from service.server import return_big_buffers_to_the_os
from service.settings import Settings
from service.streaming import open_streams_limit
from service.video.pipeline import video_jobs_limit
from service.video.reader import limit_ffmpeg_allocations

logger = logging.getLogger(__name__)

DESCRIPTION = """
Facial expression recognition: faces are found with OpenCV's Haar cascade (the default) or
MediaPipe's BlazeFace (`detector=blazeface`, with landmarks), and each face is classified
into 7 emotions by a CNN trained on FER-2013, served with ONNX Runtime.
Faces from concurrent requests and streams are micro-batched.
"""


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Load, warm up and start the inference worker; stop it on shutdown."""
    settings: Settings = app.state.settings
    metrics: Metrics = app.state.metrics
    return_big_buffers_to_the_os()
    limit_ffmpeg_allocations(settings.max_pixels)
    loaded = await asyncio.to_thread(load_model, settings)
    recognizer = loaded.recognizer()
    # Warm the batch sizes the batcher will use most: single faces and full batches.
    await asyncio.to_thread(recognizer.warm_up, sorted({1, settings.max_batch_size}))
    # Every image in flight may still submit a job, so the batcher waits for company only while
    # more of them are in the pipeline than it has collected.
    in_flight = in_flight_limit(settings.max_in_flight, metrics)
    batcher = recognizer.create_batcher(
        settings.max_batch_size, settings.max_wait_s, settings.max_queue, metrics, upcoming=lambda: in_flight.running
    )
    batcher.on_death = partial(_on_worker_death, app)
    await batcher.start()
    # Decoding and detection threads; their own pool, so its shutdown waits for exactly this work.
    pipeline = ThreadPoolExecutor(max_workers=min(32, (os.cpu_count() or 1) + 4), thread_name_prefix="fer-pipeline")
    app.state.recognizer = recognizer
    app.state.analyzer = ImageAnalyzer(recognizer, batcher, in_flight, settings, pipeline, metrics)
    metrics.model_info.labels(name=loaded.card.name, version=loaded.card.version).set(1)
    app.state.ready = True
    logger.info("serving model %s %s", loaded.card.name, loaded.card.version)
    sampler = asyncio.create_task(metrics.sample_event_loop_tasks()) if metrics.multiprocess else None
    try:
        yield
    finally:
        app.state.ready = False
        if sampler is not None:
            sampler.cancel()
        await batcher.stop()
        await asyncio.to_thread(pipeline.shutdown, wait=True, cancel_futures=True)
        limit_ffmpeg_allocations(None)  # process-wide: an app started next in this process sets its own
        metrics.mark_worker_exited()


def _on_worker_death(app: FastAPI, cause: BaseException) -> None:
    """Not ready from now on; stop the process (non-zero exit) so its supervisor starts a fresh one."""
    app.state.ready = False
    app.state.fatal_error = repr(cause)
    if app.state.settings.exit_on_worker_death:
        os.kill(os.getpid(), signal.SIGTERM)  # graceful: uvicorn drains, then main() exits non-zero


def create_app(settings: Settings | None = None) -> FastAPI:
    """A new app; the model is loaded when its lifespan starts (``settings`` default: from the environment)."""
    settings = settings or Settings()
    # /docs and /redoc with Swagger UI and ReDoc served from the fastapi-offline package: no CDN.
    app = FastAPIOffline(
        title="FER service",
        summary="Facial expression recognition for photos and webcam streams",
        description=DESCRIPTION,
        version="1.0.0",
        lifespan=lifespan,
        # Multipart forms are parsed on the event loop: every part costs parsing time there (1,000
        # fields took 15 ms), so only as many parts as a real request can hold are read.
        form_limits={"max_fields": settings.max_form_fields, "max_files": settings.max_batch_files},
    )
    app.state.settings = settings
    app.state.metrics = Metrics()
    app.state.ready = False
    app.state.fatal_error = None
    app.state.stream_slots = open_streams_limit(settings.max_streams, app.state.metrics)
    app.state.video_jobs = video_jobs_limit(settings.max_video_jobs)
    register_error_handlers(app)
    app.include_router(api_router)
    if STATIC_DIR.is_dir():
        app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    # Added later = further out: metrics and access lines see the 413s and 408s of the body
    # limits too, and the request id is set before anything logs.
    app.add_middleware(
        PathBodyLimits,
        max_bytes=settings.max_body_bytes,
        timeout_s=settings.body_timeout_s,
        path_limits={VIDEO_PATH: settings.max_video_bytes},
    )
    app.add_middleware(RequestMetricsMiddleware, metrics=app.state.metrics)
    app.add_middleware(TrailingSlash)  # outside the metrics: /predict/ counts as /predict
    add_request_id_middleware(app)
    return app
