"""The uvicorn configuration every entry point uses, with the connection-level limits.

uvicorn already bounds open connections (``limit_concurrency``, answered with 503) and the
size of a WebSocket message (``ws_max_size``: a larger frame is refused from its header, before
its payload is read). It has no time limit for receiving a request's headers, so a client that
sends one byte a second (slowloris) would hold its connection forever; :class:`HeaderTimeoutProtocol`
adds one. The body's time limit is :class:`service.middleware.BodyLimitMiddleware`'s.
"""

from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
import functools
import logging
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from service.settings import Settings

logger = logging.getLogger(__name__)
M_MMAP_THRESHOLD = -3  # glibc's mallopt parameter (malloc.h)

_TIMEOUT_BODY = b'{"detail":"request headers not received in time"}'
TIMEOUT_RESPONSE = (
    b"HTTP/1.1 408 Request Timeout\r\ncontent-type: application/json\r\nconnection: close\r\n"
    b"content-length: " + str(len(_TIMEOUT_BODY)).encode() + b"\r\n\r\n" + _TIMEOUT_BODY
)


class HeaderTimeoutProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol, closing connections whose request headers take too long.

    The clock starts when the connection opens and again when a keep-alive connection's next
    request begins, and stops when the headers are complete.
    """

    def __init__(self, *args: Any, header_timeout_s: float, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.header_timeout_s = header_timeout_s
        self._header_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._start_header_timer()

    def on_message_begin(self) -> None:
        super().on_message_begin()
        if self._header_timer is None:
            self._start_header_timer()

    def on_headers_complete(self) -> None:
        self._stop_header_timer()
        super().on_headers_complete()

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop_header_timer()
        super().connection_lost(exc)

    def _start_header_timer(self) -> None:
        self._header_timer = self.loop.call_later(self.header_timeout_s, self._headers_timed_out)

    def _stop_header_timer(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _headers_timed_out(self) -> None:
        self._header_timer = None
        if not self.transport.is_closing():
            self.transport.write(TIMEOUT_RESPONSE)
            self.transport.close()


def uvicorn_options(settings: Settings) -> dict[str, Any]:
    """Keyword arguments for ``uvicorn.run`` / ``uvicorn.Config`` carrying the service's limits."""
    return {
        # A partial of a module-level class: picklable, so it also reaches worker processes.
        "http": functools.partial(HeaderTimeoutProtocol, header_timeout_s=settings.header_timeout_s),
        "ws": "websockets-sansio",  # the websockets library: frame sizes checked from the header
        "ws_max_size": settings.max_body_bytes,  # a stream frame may be as large as an upload, no larger
        "limit_concurrency": settings.max_connections,
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
