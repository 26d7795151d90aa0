"""The uvicorn configuration every entry point uses, with the connection-level limits.

uvicorn bounds the size of a WebSocket message (``ws_max_size``: a larger frame is refused from
its header, before its payload is read). Its httptools protocol has no limit on a request head's
time, size or header count (0.55: ``h11_max_incomplete_event_size`` exists for the slower h11
protocol only, answered 400, and counts no headers), and its connection limit
(``limit_concurrency``) answers every request 503, the probes too, as plain text.
:class:`BoundedHeadProtocol`, the one place that reads request heads, adds all of these. The
body's limits are :class:`service.middleware.BodyLimitMiddleware`'s.
"""

from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
import functools
import json
import logging
import uuid
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any

from asgi_correlation_id import CorrelationIdMiddleware
from starlette.types import ASGIApp, Receive, Scope, Send
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from service.errors import error_response
from service.request_ids import REQUEST_ID_HEADER, is_acceptable_request_id
from service.settings import Settings

logger = logging.getLogger(__name__)
M_MMAP_THRESHOLD = -3  # glibc's mallopt parameter (malloc.h)
# Kubernetes' liveness and readiness probes: answered even when the connection limit is reached,
# or a full server would be restarted for being busy. They are cheap and touch no model.
PROBE_PATHS = frozenset({b"/healthz", b"/readyz"})
LINGER_S = 2.0  # how long a refused connection is drained before it is closed


@dataclass(frozen=True)
class HeadLimits:
    """What a request head may cost (``FER_HEADER_TIMEOUT_S``, ``FER_MAX_HEADER_BYTES``, ``FER_MAX_HEADERS``)."""

    timeout_s: float
    max_bytes: int
    max_headers: int
    retry_after_s: int  # sent with the connection limit's 503


def raw_error(status: int, detail: str) -> bytes:
    """A complete JSON error response for answers given before any app runs, with a fresh request id."""
    request_id = uuid.uuid4().hex
    body = json.dumps({"detail": detail, "request_id": request_id}).encode()
    head = (
        f"HTTP/1.1 {status} {HTTPStatus(status).phrase}\r\ncontent-type: application/json\r\n"
        f"connection: close\r\n{REQUEST_ID_HEADER.lower()}: {request_id}\r\ncontent-length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


@functools.cache  # one per (limit, retry) pair: built at the first overload, not for every refused request
def overloaded_app(limit: int, retry_after_s: int) -> ASGIApp:
    """The connection limit's 503: the service's JSON error, with ``Retry-After`` and a request id."""

    async def answer(scope: Scope, receive: Receive, send: Send) -> None:
        detail = f"{limit} connections are open (FER_MAX_CONNECTIONS); retry in {retry_after_s} s"
        headers = {"Retry-After": str(retry_after_s), "Connection": "close"}
        await error_response(503, detail, headers)(scope, receive, send)

    return CorrelationIdMiddleware(answer, header_name=REQUEST_ID_HEADER, validator=is_acceptable_request_id)


class BoundedHeadProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with bounded request heads and a connection limit that spares the probes.

    A head that takes longer than ``timeout_s`` (slowloris) gets 408; one over ``max_bytes`` or
    ``max_headers`` gets 431 as soon as that is known, before any of the body is read. Both close
    the connection. Bytes are counted as they arrive, since httptools joins a header's pieces
    before handing it over: memory stays within ``max_bytes`` plus one read.
    """

    def __init__(self, *args: Any, limits: HeadLimits, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.limits = limits
        self.service_app = self.app
        # uvicorn's own check would refuse the probes too: this class applies the limit instead.
        self.connection_limit, self.limit_concurrency = self.limit_concurrency, None
        self._header_timer: asyncio.TimerHandle | None = None
        self._head_open = True  # between a request's first byte (or the connection's) and its last header
        self._head_received = 0  # bytes of reads that ended with the head still open
        self._head_bytes = 0  # the head's own bytes, counted by the parser's callbacks
        self._header_count = 0
        self._rejected = False  # answered before the app ran: whatever else arrives is ignored

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._start_header_timer()

    def data_received(self, data: bytes) -> None:
        if self._rejected:
            return
        super().data_received(data)
        if self._head_open and not self._rejected:  # all of it was head: the head is still incomplete
            self._head_received += len(data)
            if self._head_received > self.limits.max_bytes:
                self._reject(431, f"request headers are larger than the {self.limits.max_bytes} bytes allowed")

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._head_open, self._head_received, self._head_bytes, self._header_count = True, 0, 0, 0
        if self._header_timer is None:
            self._start_header_timer()

    def on_url(self, url: bytes) -> None:
        self._head_bytes += len(url)
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._header_count += 1
        self._head_bytes += len(name) + len(value) + 4  # ": " and CRLF
        if self._header_count <= self.limits.max_headers:  # past the limit, nothing more is kept
            super().on_header(name, value)

    def on_headers_complete(self) -> None:
        self._stop_header_timer()
        self._head_open = False
        if self._rejected:
            return
        if self._header_count > self.limits.max_headers:
            count, limit = self._header_count, self.limits.max_headers
            self._reject(431, f"request has {count} headers, more than the {limit} allowed")
        elif self._head_bytes > self.limits.max_bytes:
            self._reject(431, f"request headers are larger than the {self.limits.max_bytes} bytes allowed")
        else:
            self.app = self._overloaded_app() if self._over_connection_limit() else self.service_app
            super().on_headers_complete()

    def on_body(self, body: bytes) -> None:
        if not self._rejected:
            super().on_body(body)

    def on_message_complete(self) -> None:
        if not self._rejected:
            super().on_message_complete()

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop_header_timer()
        super().connection_lost(exc)

    def _over_connection_limit(self) -> bool:
        limit = self.connection_limit
        if limit is None or (len(self.connections) < limit and len(self.tasks) < limit):
            return False
        return self.url.split(b"?", 1)[0] not in PROBE_PATHS

    def _overloaded_app(self) -> ASGIApp:
        logger.warning("%s connections open (FER_MAX_CONNECTIONS): answering 503", self.connection_limit)
        return overloaded_app(self.connection_limit or 0, self.limits.retry_after_s)

    def _start_header_timer(self) -> None:
        self._header_timer = self.loop.call_later(self.limits.timeout_s, self._headers_timed_out)

    def _stop_header_timer(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _headers_timed_out(self) -> None:
        self._header_timer = None
        self._reject(408, "request headers not received in time")

    def _reject(self, status: int, detail: str) -> None:
        self._stop_header_timer()
        self._rejected = True
        if not self.transport.is_closing():
            if status != 408:  # slow clients are routine; an oversized head is worth a line
                logger.warning("%s from %s: %s", status, self.client, detail)
            self.transport.write(raw_error(status, detail))
            # Closing with unread bytes would reset the connection, and the reset can destroy the
            # answer before the client reads it: finish sending, discard what still arrives a while.
            if self.transport.can_write_eof():
                self.transport.write_eof()
            self.loop.call_later(LINGER_S, self.transport.close)
            self.connections.discard(self)  # it serves nothing more: its FER_MAX_CONNECTIONS slot is free


def uvicorn_options(settings: Settings) -> dict[str, Any]:
    """Keyword arguments for ``uvicorn.run`` / ``uvicorn.Config`` carrying the service's limits."""
    limits = HeadLimits(
        settings.header_timeout_s, settings.max_header_bytes, settings.max_headers, settings.retry_after_s
    )
    return {
        # A partial of a module-level class: picklable, so it also reaches worker processes.
        "http": functools.partial(BoundedHeadProtocol, limits=limits),
        "ws": "websockets-sansio",  # the websockets library: frame sizes checked from the header
        "ws_max_size": settings.max_body_bytes,  # a stream frame may be as large as an upload, no larger
        "limit_concurrency": settings.max_connections,  # applied by BoundedHeadProtocol, probes spared
        "timeout_graceful_shutdown": settings.graceful_shutdown_s,
        "log_level": settings.log_level,
    }


def return_big_buffers_to_the_os(threshold: int = 1 << 20) -> bool:
    """Allocate buffers over ``threshold`` bytes (decoded images, their copies) with mmap.

    glibc serves blocks up to 32 MB from per-thread heaps once it has seen such blocks freed, and
    keeps them after they are freed: measured here, 21 decoded 25 MP images left the process
    684 MB larger for good. A fixed threshold returns every big buffer to the OS when freed.
    Returns False where the C library is not glibc (nothing to do there).
    """
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name) if name else None
        return bool(libc and libc.mallopt(M_MMAP_THRESHOLD, threshold))
    except (OSError, AttributeError):  # musl has no mallopt; others may differ
        logger.info("mallopt is not available: big buffers stay with the C library's allocator")
        return False
