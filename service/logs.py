"""Logging: text or JSON lines, every record of a request tagged with its request id.

The request id comes from ``asgi-correlation-id`` (see :mod:`service.request_ids`), whose
logging filter copies it onto each record; JSON lines are written by ``python-json-logger``.
:func:`log_config` is a ``logging.config.dictConfig`` mapping that uvicorn applies in every
process it starts (with several workers too), so each worker logs the same way.
"""

from __future__ import annotations

import logging
from typing import Any

from pythonjsonlogger.core import RESERVED_ATTRS

from service.settings import LogFormat, LogLevel, Settings

ACCESS_LOGGER = "fer.access"
# asgi-correlation-id's filter stores the id as ``correlation_id``; it is shown as the request id.
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s [%(correlation_id)s] %(message)s"
JSON_FIELDS = ["asctime", "levelname", "name", "message", "correlation_id"]
# Renamed to the keys log pipelines (Loki, Elasticsearch, Cloud Logging) commonly use.
JSON_RENAMES = {"asctime": "time", "levelname": "level", "name": "logger", "correlation_id": "request_id"}
# Probes and scrapes arrive every few seconds from Kubernetes and Prometheus: their successful
# answers are logged at debug level so that they do not bury the requests of users.
QUIET_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})
# uvicorn adds an ANSI-coloured copy of some messages; it has no place in JSON.
JSON_IGNORED = [*RESERVED_ATTRS, "color_message"]


def python_level(level: LogLevel) -> int:
    """The logging module's level for a FER_LOG_LEVEL ("trace" is uvicorn's, below debug)."""
    return logging.DEBUG if level == "trace" else int(getattr(logging, level.upper()))


def _formatter(log_format: LogFormat) -> dict[str, Any]:
    if log_format == "json":
        return {
            "()": "pythonjsonlogger.json.JsonFormatter",
            "fmt": JSON_FIELDS,
            "rename_fields": JSON_RENAMES,
            "reserved_attrs": JSON_IGNORED,
        }
    return {"format": TEXT_FORMAT}


def log_config(settings: Settings) -> dict[str, Any]:
    """dictConfig for the root logger and uvicorn's loggers, one stream handler on stderr.

    uvicorn's own access log is left off (``access_log=False``): it has no duration and no
    request id; :class:`service.middleware.RequestMetricsMiddleware` writes the access lines.
    """
    level = python_level(settings.log_level)
    # Records outside a request (start-up, shutdown) get "-" in text and null in JSON.
    no_request = None if settings.log_format == "json" else "-"
    handler = {"class": "logging.StreamHandler", "formatter": "main", "filters": ["request_id"]}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {
            "request_id": {"()": "asgi_correlation_id.CorrelationIdFilter", "default_value": no_request},
        },
        "formatters": {"main": _formatter(settings.log_format)},
        "handlers": {"stderr": handler},
        "root": {"handlers": ["stderr"], "level": level},
        "loggers": {
            # uvicorn's loggers log through the root handler, not handlers of their own.
            "uvicorn": {"handlers": [], "level": level, "propagate": True},
            "uvicorn.error": {"handlers": [], "level": level, "propagate": True},
            "uvicorn.access": {"handlers": [], "level": logging.WARNING, "propagate": True},
        },
    }


def escape_field(value: str) -> str:
    """A client-supplied field made safe for one log line: control and non-ASCII characters (the
    CR and LF of a percent-encoded path would start a forged line) and backslashes become escapes."""
    plain = value.isascii() and value.isprintable() and "\\" not in value
    return value if plain else value.encode("unicode_escape").decode("ascii")


def log_access(method: str, path: str, status: int, duration_s: float) -> None:
    """One access line per answered HTTP request; its fields are separate keys in JSON, escaped alike."""
    method, path = escape_field(method), escape_field(path)
    duration_ms = round(duration_s * 1000, 1)
    level = logging.DEBUG if path in QUIET_PATHS and status < 400 else logging.INFO
    logging.getLogger(ACCESS_LOGGER).log(
        level,
        "%s %s %d %.1f ms",
        method,
        path,
        status,
        duration_ms,
        extra={"method": method, "path": path, "status": status, "duration_ms": duration_ms},
    )
