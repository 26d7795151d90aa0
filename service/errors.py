"""Every error leaves as JSON ``{"detail": "<one readable sentence>", "request_id": "<id>"}``.

The request id is the one in the ``X-Request-ID`` response header: a client reporting a failed
request can quote it, and it finds the server's log lines of that request.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from service.batching import QueueFullError, WorkerStoppedError
from service.decoding import ImageError
from service.request_ids import REQUEST_ID_HEADER, current_request_id
from service.video.pipeline import ClientGoneError

logger = logging.getLogger(__name__)
CLIENT_CLOSED_REQUEST = 499  # nginx's status for a request whose client went away before the answer


# How Starlette's multipart parser says that a form holds more files than FastAPI's form_limits allow.
TOO_MANY_FILES = "Too many files."


def error_response(status_code: int, detail: str, headers: Mapping[str, str] | None = None) -> JSONResponse:
    """The service's one error body, with the current request's id."""
    body = {"detail": detail, "request_id": current_request_id()}
    return JSONResponse(body, status_code=status_code, headers=dict(headers or {}))


# The upload fields: a client that sent a raw body or another field name is told how to send one.
UPLOAD_ADVICE = {
    "file": "send the {what} as multipart form data in the field `file`, e.g. curl -F file=@{example} {url}",
    "files": "send the images as multipart form data, each in a field named `files`, "
    "e.g. curl -F files=@a.jpg -F files=@b.png {url}",
}


def describe_missing_upload(exc: RequestValidationError, url: str) -> str | None:
    """What to do when the upload field is missing (a raw body, a wrong field name), else None."""
    for error in exc.errors():
        location = tuple(error.get("loc", ()))
        if error.get("type") == "missing" and len(location) == 2 and location[0] == "body":
            advice = UPLOAD_ADVICE.get(str(location[1]))
            if advice is not None:
                video = url.rstrip("/").endswith("/video")
                what, example = ("video", "clip.mp4") if video else ("image", "photo.jpg")
                return f"no upload found: {advice.format(what=what, example=example, url=url)}"
    return None


def describe_validation_error(exc: RequestValidationError) -> str:
    """FastAPI's error list as one line, e.g. ``query.max_faces: Input should be greater than or equal to 1``."""
    parts = []
    for error in exc.errors():
        location = ".".join(str(part) for part in error.get("loc", ()))
        parts.append(f"{location}: {error.get('msg', 'invalid')}")
    return "; ".join(parts) or "invalid request"


async def handle_validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    url = str(request.url.replace(query=""))
    return error_response(422, describe_missing_upload(exc, url) or describe_validation_error(exc))


async def handle_http_exception(request: Request, exc: Exception) -> JSONResponse:
    """404, 405, the body limit's 413 and the not-loaded 503: FastAPI's answer plus the request id."""
    assert isinstance(exc, StarletteHTTPException)
    status, detail = exc.status_code, str(exc.detail)
    if status == 404 and detail == "Not Found":
        detail = f"no such path: {request.url.path}; the API's paths are listed at /docs"
    if status == 400 and detail.startswith(TOO_MANY_FILES):  # Starlette's form limit: too large, not malformed
        status, detail = 413, f"more files than the {request.app.state.settings.max_batch_files} allowed per request"
    return error_response(status, detail, exc.headers)


async def handle_image_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ImageError)
    return error_response(exc.status_code, exc.detail)


async def handle_queue_full(request: Request, exc: Exception) -> JSONResponse:
    retry_after = request.app.state.settings.retry_after_s
    return error_response(503, f"server busy: {exc}; retry in {retry_after} s", {"Retry-After": str(retry_after)})


async def handle_worker_stopped(request: Request, exc: Exception) -> JSONResponse:
    retry_after = request.app.state.settings.retry_after_s
    detail = f"service unavailable: {exc}; retry in {retry_after} s"
    return error_response(503, detail, {"Retry-After": str(retry_after)})


async def handle_client_gone(request: Request, exc: Exception) -> JSONResponse:
    # Nobody reads this answer; its status is for the access log and the metrics (nginx's 499).
    return error_response(CLIENT_CLOSED_REQUEST, str(exc))


async def handle_unexpected_error(request: Request, exc: Exception) -> JSONResponse:
    # Logged with its traceback for operators; the client gets no internals. Starlette sends
    # this answer outside every middleware, so the request id header is added here.
    logger.exception("unhandled error on %s %s", request.method, request.url.path)
    request_id = current_request_id()
    return error_response(500, "internal server error", {REQUEST_ID_HEADER: request_id} if request_id else None)


def register_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(RequestValidationError, handle_validation_error)
    app.add_exception_handler(StarletteHTTPException, handle_http_exception)
    app.add_exception_handler(ImageError, handle_image_error)
    app.add_exception_handler(QueueFullError, handle_queue_full)
    app.add_exception_handler(WorkerStoppedError, handle_worker_stopped)
    app.add_exception_handler(ClientGoneError, handle_client_gone)
    app.add_exception_handler(Exception, handle_unexpected_error)
