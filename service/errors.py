"""Every error leaves as JSON ``{"detail": "<one readable sentence>"}`` with a fitting status."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from service.batching import QueueFullError, WorkerStoppedError
from service.decoding import ImageError

logger = logging.getLogger(__name__)


def describe_validation_error(exc: RequestValidationError) -> str:
    """FastAPI's error list as one line, e.g. ``body.file: Field required``."""
    parts = []
    for error in exc.errors():
        location = ".".join(str(part) for part in error.get("loc", ()))
        parts.append(f"{location}: {error.get('msg', 'invalid')}")
    return "; ".join(parts) or "invalid request"


async def handle_validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    return JSONResponse({"detail": describe_validation_error(exc)}, status_code=422)


async def handle_image_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ImageError)
    return JSONResponse({"detail": exc.detail}, status_code=exc.status_code)


async def handle_queue_full(request: Request, exc: Exception) -> JSONResponse:
    retry_after = request.app.state.settings.retry_after_s
    detail = f"server busy: {exc}; retry in {retry_after} s"
    return JSONResponse({"detail": detail}, status_code=503, headers={"Retry-After": str(retry_after)})


async def handle_worker_stopped(request: Request, exc: Exception) -> JSONResponse:
    retry_after = request.app.state.settings.retry_after_s
    detail = f"service unavailable: {exc}; retry in {retry_after} s"
    return JSONResponse({"detail": detail}, status_code=503, headers={"Retry-After": str(retry_after)})


async def handle_unexpected_error(request: Request, exc: Exception) -> JSONResponse:
    # Logged with its traceback for operators; the client gets no internals.
    logger.exception("unhandled error on %s %s", request.method, request.url.path)
    return JSONResponse({"detail": "internal server error"}, status_code=500)


def register_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(RequestValidationError, handle_validation_error)
    app.add_exception_handler(ImageError, handle_image_error)
    app.add_exception_handler(QueueFullError, handle_queue_full)
    app.add_exception_handler(WorkerStoppedError, handle_worker_stopped)
    app.add_exception_handler(Exception, handle_unexpected_error)
