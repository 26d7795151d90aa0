"""Dependencies: what handlers need from ``app.state``, as ``Annotated`` aliases."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, HTTPException, Query
from starlette.requests import HTTPConnection

from service.analysis import ImageAnalyzer
from service.inference import DetectOptions
from service.limits import Limiter
from service.metrics import Metrics
from service.model_store import ModelCard
from service.settings import JPEG_MAX_SIDE, DetectorName, Settings

# HTTPConnection rather than Request: the same dependencies serve the WebSocket route.


def get_settings(connection: HTTPConnection) -> Settings:
    settings: Settings = connection.app.state.settings
    return settings


def get_metrics(connection: HTTPConnection) -> Metrics:
    metrics: Metrics = connection.app.state.metrics
    return metrics


def get_analyzer(connection: HTTPConnection) -> ImageAnalyzer:
    analyzer: ImageAnalyzer | None = getattr(connection.app.state, "analyzer", None)
    if analyzer is None:
        raise HTTPException(503, "the model is not loaded yet", headers={"Retry-After": "1"})
    return analyzer


def get_stream_slots(connection: HTTPConnection) -> Limiter:
    slots: Limiter = connection.app.state.stream_slots
    return slots


def get_model(connection: HTTPConnection) -> ModelCard:
    return get_analyzer(connection).recognizer.model


def get_video_jobs(connection: HTTPConnection) -> Limiter:
    jobs: Limiter = connection.app.state.video_jobs
    return jobs


def get_detect_options(
    max_faces: Annotated[int | None, Query(ge=1, le=1000, description="keep at most this many (largest) faces")] = None,
    min_face_size: Annotated[
        int | None,
        Query(ge=1, le=JPEG_MAX_SIDE, description="smallest face side in pixels (default: FER_DETECT_MIN_FACE)"),
    ] = None,
    detect: Annotated[
        bool, Query(description="false: skip detection and treat the whole image as one face crop")
    ] = True,
    detector: Annotated[
        DetectorName | None,
        Query(description="haar or blazeface (landmarks, tilted and small faces); default: FER_DETECTOR"),
    ] = None,
) -> DetectOptions:
    return DetectOptions(max_faces=max_faces, min_face_size=min_face_size, detect=detect, detector=detector)


SettingsDep = Annotated[Settings, Depends(get_settings)]
MetricsDep = Annotated[Metrics, Depends(get_metrics)]
AnalyzerDep = Annotated[ImageAnalyzer, Depends(get_analyzer)]
ModelDep = Annotated[ModelCard, Depends(get_model)]
StreamSlotsDep = Annotated[Limiter, Depends(get_stream_slots)]
DetectOptionsDep = Annotated[DetectOptions, Depends(get_detect_options)]
VideoJobsDep = Annotated[Limiter, Depends(get_video_jobs)]
