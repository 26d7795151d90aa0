"""POST /predict/video: every face of an uploaded video tracked over time, as JSON rows or CSV."""

from __future__ import annotations

import asyncio
import shutil
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import partial
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, File, Header, HTTPException, Query, Request, UploadFile
from fastapi.responses import Response

from service.analysis import ImageAnalyzer
from service.api.deps import AnalyzerDep, SettingsDep, VideoJobsDep
from service.inference import DetectOptions
from service.schemas import ErrorResponse, ModelRef
from service.settings import JPEG_MAX_SIDE, DetectorName, Settings
from service.video.pipeline import analyse_video, run_while_connected
from service.video.reader import VideoLimits, VideoReader, check_upload, video_pixel_limit
from service.video.schemas import VideoResponse
from service.video.timeline import VideoTimeline

VIDEO_PATH = "/predict/video"

router = APIRouter(tags=["predict"])

VIDEO_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"content": {"text/csv": {}}, "description": "JSON, or CSV (same rows) when the request has Accept: text/csv"},
    400: {"model": ErrorResponse, "description": "a corrupt or truncated video"},
    413: {
        "model": ErrorResponse,
        "description": "over FER_MAX_VIDEO_BYTES, FER_MAX_VIDEO_DURATION_S, FER_MAX_VIDEO_FRAMES or FER_MAX_PIXELS",
    },
    415: {"model": ErrorResponse, "description": "not a video, or a container other than MP4, MOV, WebM, MKV, AVI"},
    422: {"model": ErrorResponse, "description": "missing form field or invalid query option"},
    503: {"model": ErrorResponse, "description": "FER_MAX_VIDEO_JOBS videos or too many images in flight"},
}


def get_video_options(
    settings: SettingsDep,
    max_faces: Annotated[
        int | None, Query(ge=1, le=1000, description="keep at most this many (largest) faces per frame")
    ] = None,
    min_face_size: Annotated[
        int | None,
        Query(ge=1, le=JPEG_MAX_SIDE, description="smallest face side in pixels (default: FER_DETECT_MIN_FACE)"),
    ] = None,
    detector: Annotated[DetectorName | None, Query(description="haar or blazeface; default: FER_DETECTOR")] = None,
) -> DetectOptions:
    """Per-request detection options, never more faces per frame than FER_MAX_VIDEO_FACES."""
    limit = min(max_faces or settings.max_video_faces, settings.max_video_faces)
    return DetectOptions(max_faces=limit, min_face_size=min_face_size, detector=detector)


VideoOptionsDep = Annotated[DetectOptions, Depends(get_video_options)]


@router.post(VIDEO_PATH, response_model=VideoResponse, responses=VIDEO_RESPONSES)
async def predict_video(
    request: Request,
    file: Annotated[UploadFile, File(description="an MP4, MOV, WebM, MKV or AVI video")],
    analyzer: AnalyzerDep,
    settings: SettingsDep,
    jobs: VideoJobsDep,
    options: VideoOptionsDep,
    every: Annotated[int, Query(ge=1, le=1000, description="analyse every N-th frame")] = 1,
    accept: Annotated[str | None, Header(description="text/csv for CSV rows instead of JSON")] = None,
) -> Any:
    """Track the faces of a video and give each one's emotion probabilities at every sampled frame."""
    if file.size is not None and file.size > settings.max_video_bytes:
        raise HTTPException(413, f"video is larger than the {settings.max_video_bytes} bytes allowed")
    # Cancelled if the client leaves: a video can keep the cores busy for minutes.
    work = partial(_analyse_upload, file, analyzer, settings, options, every)
    timeline = await run_while_connected(jobs, work, request.receive)
    # A long video has tens of thousands of rows: serialise them in a worker thread, not on the event loop.
    if prefers_csv(accept):
        return Response(await asyncio.to_thread(timeline.to_csv), media_type="text/csv")
    body = await asyncio.to_thread(_json_body, timeline, analyzer.model_ref)
    return Response(body, media_type="application/json")


def _json_body(timeline: VideoTimeline, model: ModelRef) -> str:
    return VideoResponse.of(timeline, model).model_dump_json()


async def _analyse_upload(
    upload: UploadFile, analyzer: ImageAnalyzer, settings: Settings, options: DetectOptions, every: int
) -> VideoTimeline:
    check_upload(await upload.read(16), upload.content_type)
    await upload.seek(0)
    limits = VideoLimits(
        settings.max_video_duration_s,
        settings.max_video_frames,
        video_pixel_limit(settings.max_pixels),
        settings.max_image_side,
    )
    async with _on_disk(upload) as path:
        reader = await asyncio.to_thread(VideoReader, path, limits, every, keep_color=False)
        try:
            return await analyse_video(reader, analyzer, options)
        finally:
            await asyncio.to_thread(reader.close)  # waits for a frame being decoded: not on the event loop


@asynccontextmanager
async def _on_disk(upload: UploadFile) -> AsyncIterator[Path]:
    """The upload as a named file (FFmpeg reads files, not Python streams), deleted afterwards."""
    with tempfile.NamedTemporaryFile(prefix="fer-video-") as copy:
        await asyncio.to_thread(shutil.copyfileobj, upload.file, copy)
        await asyncio.to_thread(copy.flush)
        yield Path(copy.name)


def prefers_csv(accept: str | None) -> bool:
    """Whether the Accept header ranks text/csv above JSON (``Accept: text/csv``)."""
    weights: dict[str, float] = {}
    for media_range in (accept or "").split(","):
        media_type, *params = (part.strip().lower() for part in media_range.split(";"))
        quality = next((_quality(p[2:]) for p in params if p.startswith("q=")), 1.0)
        weights[media_type] = quality
    return weights.get("text/csv", 0.0) > weights.get("application/json", 0.0)


def _quality(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        return 0.0
