"""Request ids: ``X-Request-ID`` taken from the request or generated, returned on every response.

``asgi-correlation-id`` does the work: its middleware reads or makes the id, keeps it in a
context variable for the rest of the request (log records pick it up through its logging
filter, see :mod:`service.logs`) and adds it to the response headers.
"""

from __future__ import annotations

import re

from asgi_correlation_id import CorrelationIdMiddleware, correlation_id
from fastapi import FastAPI

REQUEST_ID_HEADER = "X-Request-ID"
# A client's id ends up in log lines and response headers: only characters that cannot forge a
# log line or a header are kept; anything else gets a generated id (a uuid4 in hex) instead.
_ACCEPTED_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")


def is_acceptable_request_id(value: str) -> bool:
    """Whether a client's X-Request-ID is used as it is."""
    return _ACCEPTED_REQUEST_ID.fullmatch(value) is not None


def current_request_id() -> str | None:
    """The id of the request being handled (None outside a request)."""
    return correlation_id.get()


def add_request_id_middleware(app: FastAPI) -> None:
    """Must be added last, as the outermost middleware, so that every response carries the id.

    The one exception is a 500 from an unhandled error: Starlette answers it outside all
    middleware, so :func:`service.errors.handle_unexpected_error` adds the header itself.
    """
    app.add_middleware(CorrelationIdMiddleware, header_name=REQUEST_ID_HEADER, validator=is_acceptable_request_id)
