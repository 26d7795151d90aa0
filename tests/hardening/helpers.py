"""Helpers of the hardening tests: real uvicorn servers in a thread, and the gauges that reveal leaks."""

from __future__ import annotations

import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

import httpx
from fastapi import FastAPI

from service.settings import Settings
from service.testing import serve_in_thread as service_in_thread

REPO_ROOT = Path(__file__).resolve().parents[2]
MODEL_STORE = REPO_ROOT / "model_store"
ASTRONAUT = REPO_ROOT / "tests" / "fixtures" / "photos" / "astronaut.png"


def make_settings(**overrides: Any) -> Settings:
    """The committed model with one ONNX Runtime thread."""
    values: dict[str, Any] = {"model_store": MODEL_STORE, "ort_intra_op_threads": 1, "ort_inter_op_threads": 1}
    return Settings(**{**values, **overrides})


def serve_in_thread(**overrides: Any) -> AbstractContextManager[tuple[str, FastAPI]]:
    """``with serve_in_thread(max_queue=4) as (base_url, app):`` real uvicorn on a free port."""
    return service_in_thread(make_settings(**overrides))


def wait_until(condition: Callable[[], object], timeout: float = 30, every: float = 0.02) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        time.sleep(every)


def gauges(base_url: str) -> dict[str, float]:
    """The leak-relevant gauges, scraped from the server's own event loop."""
    names = ("fer_event_loop_tasks", "fer_images_in_flight", "fer_queue_depth", "fer_open_streams")
    lines = httpx.get(f"{base_url}/metrics", timeout=10).text.splitlines()
    return {line.split(" ")[0]: float(line.split(" ")[1]) for line in lines if line.startswith(names)}


def assert_ready(base_url: str) -> None:
    assert httpx.get(f"{base_url}/readyz", timeout=10).status_code == 200
