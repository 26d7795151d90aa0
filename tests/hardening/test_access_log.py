"""Access-log lines cannot be forged through the request path, in either log format (issue 27)."""

from __future__ import annotations

import io
import json
import logging
import socket
from collections.abc import Iterator

import pytest
from asgi_correlation_id import CorrelationIdFilter
from pythonjsonlogger.json import JsonFormatter

from service.logs import ACCESS_LOGGER, JSON_FIELDS, JSON_IGNORED, JSON_RENAMES, TEXT_FORMAT

from .helpers import serve_in_thread

FORGED = "/x%0d%0a2026-01-01 00:00:00,000 INFO fer.access [-] GET /admin 200 1.0 ms"


@pytest.fixture
def access_lines() -> Iterator[dict[str, io.StringIO]]:
    """What the access logger writes in each format, through the service's own formatters."""
    streams = {"text": io.StringIO(), "json": io.StringIO()}
    formatters = {
        "text": logging.Formatter(TEXT_FORMAT),
        "json": JsonFormatter(JSON_FIELDS, rename_fields=JSON_RENAMES, reserved_attrs=JSON_IGNORED),
    }
    handlers = []
    for name, stream in streams.items():
        handler = logging.StreamHandler(stream)
        handler.setFormatter(formatters[name])
        handler.addFilter(CorrelationIdFilter(default_value="-"))
        handlers.append(handler)
    logger = logging.getLogger(ACCESS_LOGGER)
    level = logger.level
    logger.setLevel(logging.INFO)
    for handler in handlers:
        logger.addHandler(handler)
    yield streams
    for handler in handlers:
        logger.removeHandler(handler)
    logger.setLevel(level)


def test_percent_encoded_line_breaks_in_the_path_cannot_forge_an_access_line(
    access_lines: dict[str, io.StringIO],
) -> None:
    request = f"GET {FORGED.replace(' ', '%20')} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n".encode()
    with serve_in_thread() as (base_url, _app):
        sock = socket.create_connection(("127.0.0.1", int(base_url.rsplit(":", 1)[1])), timeout=30)
        with sock:
            sock.sendall(request)
            reply = b"".join(iter(lambda: sock.recv(65536), b""))
    text, json_lines = access_lines["text"].getvalue(), access_lines["json"].getvalue()
    assert reply.startswith(b"HTTP/1.1 404")
    assert text.count("\n") == 1 and "fer.access" in text  # one line, not two
    assert "\\r\\n2026-01-01 00:00:00,000 INFO fer.access [-] GET /admin 200 1.0 ms 404" in text
    record = json.loads(json_lines)
    assert json_lines.count("\n") == 1
    assert record["path"] == "/x\\r\\n2026-01-01 00:00:00,000 INFO fer.access [-] GET /admin 200 1.0 ms"
    assert record["status"] == 404 and record["message"].startswith("GET /x\\r\\n")
