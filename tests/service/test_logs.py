"""service.logs: text and JSON lines, each with the request id; access lines with their fields."""

import json
import logging
import logging.config
from collections.abc import Iterator

import pytest
from asgi_correlation_id import correlation_id

from service.logs import ACCESS_LOGGER, log_access, log_config
from service.settings import Settings

LOGGERS = ["", "uvicorn", "uvicorn.error", "uvicorn.access", ACCESS_LOGGER]


@pytest.fixture
def restore_logging() -> Iterator[None]:
    """dictConfig changes process-wide loggers: put back what pytest and other tests set."""
    saved = {
        name: (lg.handlers[:], lg.level, lg.propagate, lg.filters[:])
        for name in LOGGERS
        if (lg := logging.getLogger(name))
    }
    yield
    for name, (handlers, level, propagate, filters) in saved.items():
        logger = logging.getLogger(name)
        logger.handlers[:], logger.filters[:] = handlers, filters
        logger.setLevel(level)
        logger.propagate = propagate


def access_line(log_format: str, capsys: pytest.CaptureFixture[str]) -> str:
    """What one access line of request "req-1" looks like on stderr in that format."""
    logging.config.dictConfig(log_config(Settings(log_format=log_format)))
    token = correlation_id.set("req-1")
    try:
        log_access("POST", "/predict", 200, 0.04321)
    finally:
        correlation_id.reset(token)
    [line] = capsys.readouterr().err.splitlines()
    return line


@pytest.mark.usefixtures("restore_logging")
def test_log_access_writes_json_with_every_field(capsys: pytest.CaptureFixture[str]) -> None:
    record = json.loads(access_line("json", capsys))
    assert record["request_id"] == "req-1" and record["logger"] == ACCESS_LOGGER and record["level"] == "INFO"
    assert (record["method"], record["path"], record["status"], record["duration_ms"]) == (
        "POST",
        "/predict",
        200,
        43.2,
    )
    assert record["message"] == "POST /predict 200 43.2 ms" and "time" in record


@pytest.mark.usefixtures("restore_logging")
def test_log_access_writes_text_with_the_request_id(capsys: pytest.CaptureFixture[str]) -> None:
    line = access_line("text", capsys)
    assert line.endswith(f"INFO {ACCESS_LOGGER} [req-1] POST /predict 200 43.2 ms"), line


@pytest.mark.usefixtures("restore_logging")
def test_log_config_marks_records_outside_requests(capsys: pytest.CaptureFixture[str]) -> None:
    logging.config.dictConfig(log_config(Settings(log_format="json")))
    logging.getLogger("uvicorn.error").info("Started server process [%d]", 1, extra={"color_message": "\x1b[1m"})
    record = json.loads(capsys.readouterr().err)
    assert record["request_id"] is None and record["message"] == "Started server process [1]"
    assert "color_message" not in record


def test_log_access_demotes_successful_probes(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.DEBUG, logger=ACCESS_LOGGER):
        log_access("GET", "/readyz", 200, 0.001)
        log_access("GET", "/readyz", 503, 0.001)
        log_access("GET", "/predict", 200, 0.001)
    assert [r.levelno for r in caplog.records] == [logging.DEBUG, logging.INFO, logging.INFO]
