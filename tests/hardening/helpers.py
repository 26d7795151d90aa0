"""Helpers of the hardening tests: real uvicorn servers in a thread, and the gauges that reveal leaks."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

import httpx
import onnxruntime as ort
import pytest
from fastapi import FastAPI

from service import analysis
from service.settings import Settings
from tests.support.live_server import serve_in_thread as service_in_thread

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
    names = (
        "fer_event_loop_tasks",
        "fer_images_in_flight",
        "fer_queue_depth",
        "fer_open_streams",
        "fer_decode_bytes_reserved",
    )
    lines = httpx.get(f"{base_url}/metrics", timeout=10).text.splitlines()
    return {line.split(" ")[0]: float(line.split(" ")[1]) for line in lines if line.startswith(names)}


def assert_ready(base_url: str) -> None:
    assert httpx.get(f"{base_url}/readyz", timeout=10).status_code == 200


class Gate:
    """A barrier for worker threads: each arrival waits until the test lets one (or all) through."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self.arrived = 0  # threads that reached the gate so far
        self.waiting = 0  # threads at the gate now
        self._passes = 0
        self._open = False

    def pass_through(self) -> None:
        with self._cond:
            self.arrived += 1
            self.waiting += 1
            self._cond.wait_for(lambda: self._open or self._passes > 0, timeout=60)
            if not self._open:
                self._passes -= 1
            self.waiting -= 1

    def release_one(self) -> None:
        with self._cond:
            self._passes += 1
            self._cond.notify_all()

    def open(self) -> None:
        with self._cond:
            self._open = True
            self._cond.notify_all()


class Gates:
    """Close a gate in front of a pipeline stage of the servers started in this test."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self._monkeypatch = monkeypatch
        self._gates: list[Gate] = []

    def close(self, stage: str) -> Gate:
        """``"decode"`` (the worker thread, before decoding) or ``"inference"`` (every ONNX Runtime run)."""
        gate = Gate()
        self._gates.append(gate)
        if stage == "decode":
            self._wrap(analysis, "decode_opened", gate)
        elif stage == "inference":
            self._wrap(ort.InferenceSession, "run", gate)
        else:
            raise ValueError(stage)
        return gate

    def _wrap(self, owner: Any, name: str, gate: Gate) -> None:
        original = getattr(owner, name)

        def gated(*args: Any, **kwargs: Any) -> Any:
            gate.pass_through()
            return original(*args, **kwargs)

        self._monkeypatch.setattr(owner, name, gated)

    def open_all(self) -> None:
        for gate in self._gates:
            gate.open()


class WorkerKilled(BaseException):
    """Not an Exception: the batching loop does not catch it, so the worker task ends."""


def kill_worker_after_next_round(app: Any) -> None:
    """The inference worker dies in the round after the next request's."""

    async def die() -> list[Any]:
        raise WorkerKilled()

    app.state.analyzer.batcher._collect = die
