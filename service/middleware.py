"""Pure ASGI middleware: request body size and time limits, per-route request metrics and access lines."""

from __future__ import annotations

import asyncio
import time

from fastapi import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service.errors import error_response
from service.logs import log_access
from service.metrics import Metrics


class BodyTooLargeError(HTTPException):
    """Raised from ``receive`` once the body passes the limit.

    An HTTPException, because FastAPI re-raises those from body parsing (anything else would
    become a generic 400) and its exception handler turns it into a 413 JSON response.
    """

    def __init__(self, max_bytes: int) -> None:
        super().__init__(413, f"request body is larger than the {max_bytes} bytes allowed")


class BodyTimeoutError(HTTPException):
    """Raised from ``receive`` when the body is not complete within the allowed time (slow clients)."""

    def __init__(self, timeout_s: float) -> None:
        super().__init__(408, f"request body not received within {timeout_s:g} s", headers={"Connection": "close"})


class BodyLimitMiddleware:
    """Refuse bodies over ``max_bytes`` (from Content-Length, or while reading chunked ones) and
    bodies that take longer than ``timeout_s`` to arrive, so a slow client cannot hold a request open."""

    def __init__(self, app: ASGIApp, max_bytes: int, timeout_s: float) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.timeout_s = timeout_s

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = _content_length(scope)
        if declared is not None and declared > self.max_bytes:
            await self._reject(scope, receive, send)
            return
        try:
            await self.app(scope, _LimitedReceive(receive, self.max_bytes, self.timeout_s), send)
        except (BodyTooLargeError, BodyTimeoutError) as exc:
            # Only if the app let it escape (FastAPI answers it itself): the body comes before any answer.
            await self._reject(scope, receive, send, exc)

    async def _reject(self, scope: Scope, receive: Receive, send: Send, error: HTTPException | None = None) -> None:
        error = error or BodyTooLargeError(self.max_bytes)
        await error_response(error.status_code, error.detail, {"Connection": "close"})(scope, receive, send)


class _LimitedReceive:
    """``receive`` that raises once more than ``max_bytes`` of body have arrived, or when the
    body is still incomplete ``timeout_s`` after it was first asked for."""

    def __init__(self, receive: Receive, max_bytes: int, timeout_s: float) -> None:
        self.receive = receive
        self.max_bytes = max_bytes
        self.timeout_s = timeout_s
        self.received = 0
        self.deadline: float | None = None
        self.complete = False

    async def __call__(self) -> Message:
        if self.complete:  # after the body, receive only waits for a disconnect: no deadline
            return await self.receive()
        loop = asyncio.get_running_loop()
        self.deadline = self.deadline or loop.time() + self.timeout_s
        try:
            message = await asyncio.wait_for(self.receive(), max(0.0, self.deadline - loop.time()))
        except TimeoutError:
            raise BodyTimeoutError(self.timeout_s) from None
        if message["type"] == "http.request":
            self.received += len(message.get("body", b""))
            self.complete = not message.get("more_body", False)
            if self.received > self.max_bytes:
                raise BodyTooLargeError(self.max_bytes)
        return message


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", []):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


class RequestMetricsMiddleware:
    """Count and time requests per route template (not raw path: bounded label values), and
    write one access line per request (inside the request id middleware, so it carries the id)."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status = 500  # if the app raises before answering, the server answers 500

        async def recording_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        began = time.perf_counter()
        root_path = scope.get("root_path", "")
        try:
            await self.app(scope, receive, recording_send)
        finally:
            duration = time.perf_counter() - began
            endpoint = _route_template(scope, root_path)
            self.metrics.request_duration.labels(endpoint=endpoint).observe(duration)
            self.metrics.requests.labels(endpoint=endpoint, status=str(status)).inc()
            log_access(scope["method"], scope["path"], status, duration)


def _route_template(scope: Scope, original_root_path: str) -> str:
    """The matched route's path, which routing records in the scope ("/predict", "/v1/models").

    A mount (``/static``) records no route but extends ``root_path`` by its own path. A request
    answered before routing (a 413 from its declared body size) counts under its path when that
    is one of the API's.
    """
    route = scope.get("route")
    path = getattr(route, "path_format", None) or getattr(route, "path", None)
    if path:
        return str(path)
    mount_path = scope.get("root_path", "")[len(original_root_path) :]
    if mount_path:
        return mount_path
    return scope["path"] if scope.get("path") in _api_paths(scope.get("app")) else "unmatched"


def _api_paths(app: object) -> set[str]:
    """The paths of the app's OpenAPI schema (FastAPI builds it once and keeps it)."""
    openapi = getattr(app, "openapi", None)
    return set(openapi().get("paths", {})) if callable(openapi) else set()


class TrailingSlash:
    """Serve ``/predict/`` as ``/predict``: a client that adds a slash gets the answer, not a bare 307."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if scope["type"] in ("http", "websocket") and len(path) > 1 and path.endswith("/"):
            # raw_path would still carry the slash; routing and URLs read "path".
            scope = {**{k: v for k, v in scope.items() if k != "raw_path"}, "path": path.rstrip("/") or "/"}
        await self.app(scope, receive, send)


class PathBodyLimits:
    """A body size limit per path (a video may be larger than a photo), ``max_bytes`` everywhere else.

    One :class:`BodyLimitMiddleware` per limit around the same app, picked by the path; the body
    timeout is the same for all.
    """

    def __init__(self, app: ASGIApp, max_bytes: int, timeout_s: float, path_limits: dict[str, int]) -> None:
        self.default = BodyLimitMiddleware(app, max_bytes, timeout_s)
        self.by_path = {path: BodyLimitMiddleware(app, limit, timeout_s) for path, limit in path_limits.items()}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        limited = self.by_path.get(_route_path(scope), self.default) if scope["type"] == "http" else self.default
        await limited(scope, receive, send)


def _route_path(scope: Scope) -> str:
    """The path the routes see: without the root path when the server includes it (as Starlette does)."""
    path, root_path = scope.get("path", ""), scope.get("root_path", "")
    return path[len(root_path) :] if root_path and path.startswith(root_path) else path
