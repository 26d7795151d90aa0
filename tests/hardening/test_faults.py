"""Faults: vanishing clients leak nothing, SIGTERM drains requests in flight, overload gets 503,
a dead inference worker makes the process unready and exit non-zero.

A missing or corrupt model is covered where startup is tested: ``tests/service/test_main.py``
(``test_main_exits_non_zero_for_a_missing_model`` / ``..._for_a_corrupt_model``: one line on
stderr, exit status 2).
"""

from __future__ import annotations

import signal
import socket
import sys
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import cv2
import httpx
import numpy as np
import pytest
from websockets.sync.client import connect

from bench.server import service_process
from service.__main__ import EXIT_WORKER_DIED

from .helpers import ASTRONAUT, Gates, gauges, kill_worker_after_next_round, serve_in_thread, wait_until

BOUNDARY = "hardening-boundary"


def multipart(data: bytes) -> tuple[bytes, bytes]:
    """(head, body) of a POST /predict carrying ``data`` as the file."""
    body = (
        (
            f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="a.png"\r\n'
            "Content-Type: image/png\r\n\r\n"
        ).encode()
        + data
        + f"\r\n--{BOUNDARY}--\r\n".encode()
    )
    head = (
        "POST /predict HTTP/1.1\r\nHost: test\r\n"
        f"Content-Type: multipart/form-data; boundary={BOUNDARY}\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode()
    return head, body


def send_and_vanish(port: int, payload: bytes, until: Callable[[], object] | None = None) -> None:
    """Send ``payload`` on a fresh connection and drop it without reading the answer, once ``until()`` holds."""
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.sendall(payload)
        if until is not None:
            wait_until(until)


def assert_back_to_idle(base_url: str, idle: dict[str, float]) -> None:
    """Every gauge returns to its idle value: no task, image, queued job or stream left behind."""
    wait_until(lambda: gauges(base_url) == idle, timeout=20, every=0.1)


def test_disconnect_mid_upload_leaks_no_tasks(astronaut_bytes: bytes) -> None:
    head, body = multipart(astronaut_bytes)
    with serve_in_thread() as (base_url, _app):
        port = int(base_url.rsplit(":", 1)[1])
        idle = gauges(base_url)
        for cut in (0, 10, 200, len(body) // 2, len(body) - 1):
            send_and_vanish(port, head + body[:cut])
        assert_back_to_idle(base_url, idle)
        assert httpx.post(f"{base_url}/predict", files={"file": ("a.png", astronaut_bytes)}).status_code == 200


@pytest.mark.parametrize("stage", ["decode", "inference"])
def test_disconnect_mid_request_leaks_no_tasks(astronaut_bytes: bytes, stage: str, gates: Gates) -> None:
    """Whole requests whose clients leave while the image is decoded, or while it is classified."""
    head, body = multipart(astronaut_bytes)
    with serve_in_thread() as (base_url, _app):
        port = int(base_url.rsplit(":", 1)[1])
        idle = gauges(base_url)
        gate = gates.close(stage)
        for sent in range(1, 5):
            send_and_vanish(port, head + body, until=lambda n=sent: gate.arrived >= n)  # type: ignore[misc]
            gate.release_one()
        gates.open_all()
        assert_back_to_idle(base_url, idle)


def test_disconnect_mid_stream_leaks_no_tasks(astronaut_bytes: bytes) -> None:
    with serve_in_thread(max_wait_ms=50) as (base_url, _app):
        idle = gauges(base_url)
        url = f"ws://{base_url.removeprefix('http://')}/stream"
        for frames in (0, 1, 5):
            with connect(url, compression=None) as ws:
                for _ in range(frames):
                    ws.send(astronaut_bytes)
                ws.socket.shutdown(socket.SHUT_RDWR)  # gone without a close frame, frames still in flight
        with connect(url) as ws:  # and a polite one
            ws.send(astronaut_bytes)
        assert_back_to_idle(base_url, idle)


@pytest.fixture
def gates(monkeypatch: pytest.MonkeyPatch) -> Iterator[Gates]:
    """Closable gates in front of decoding and inference (see :class:`Gates`)."""
    opened = Gates(monkeypatch)
    yield opened
    opened.open_all()


def test_predict_image_answers_503_when_too_many_images_are_in_flight(astronaut_bytes: bytes, gates: Gates) -> None:
    files = {"file": ("a.png", astronaut_bytes)}
    with serve_in_thread(max_in_flight=1) as (base_url, _app), ThreadPoolExecutor(1) as pool:
        gate = gates.close("decode")
        first = pool.submit(httpx.post, f"{base_url}/predict", files=files, timeout=30)
        wait_until(lambda: gate.waiting == 1)
        refused = httpx.post(f"{base_url}/predict", files=files, timeout=30)
        gates.open_all()
        assert first.result().status_code == 200
    assert refused.status_code == 503
    assert refused.headers["retry-after"] == "1"
    assert "busy" in refused.json()["detail"]


def slow_image() -> bytes:
    """A 2400x2400 JPEG: searched at full size with a fine scale step, detection takes about a second."""
    photo = cv2.imread(str(ASTRONAUT))
    assert photo is not None
    return cv2.imencode(".jpg", cv2.resize(photo, (2400, 2400), interpolation=cv2.INTER_CUBIC))[1].tobytes()


def test_sigterm_finishes_the_request_in_flight_then_exits_0() -> None:
    result: dict[str, int] = {}
    env = {"FER_DETECT_MAX_SIDE": "2400", "FER_DETECT_SCALE_FACTOR": "1.05", "FER_ORT_INTRA_OP_THREADS": "1"}
    with service_process(env) as service:

        def post() -> None:
            files = {"file": ("slow.jpg", slow_image())}
            result["status"] = httpx.post(f"{service.base_url}/predict", files=files, timeout=60).status_code

        client = threading.Thread(target=post)
        client.start()
        wait_until(lambda: service.metrics()["fer_images_in_flight"] == 1, every=0.01)
        service.process.send_signal(signal.SIGTERM)
        client.join(timeout=60)
        assert service.process.wait(timeout=60) == 0
    assert result["status"] == 200


def test_stream_disconnect_mid_decode_leaves_in_flight_equal_to_the_work_still_running(
    astronaut_bytes: bytes, gates: Gates
) -> None:
    with serve_in_thread() as (base_url, _app):
        idle = gauges(base_url)
        gate = gates.close("decode")
        with connect(f"ws://{base_url.removeprefix('http://')}/stream", compression=None) as ws:
            ws.send(astronaut_bytes)
            wait_until(lambda: gate.waiting == 1)
            ws.socket.shutdown(socket.SHUT_RDWR)  # gone while its frame is being decoded
        wait_until(lambda: gauges(base_url)["fer_open_streams"] == 0)  # the session has ended...
        assert gauges(base_url)["fer_images_in_flight"] == 1  # ...but its decode thread still runs
        gates.open_all()
        assert_back_to_idle(base_url, idle)


def test_readyz_answers_503_after_the_inference_worker_dies(astronaut_bytes: bytes) -> None:
    files = {"file": ("a.png", astronaut_bytes)}
    with serve_in_thread(exit_on_worker_death=False) as (base_url, app):
        batcher = app.state.analyzer.batcher
        kill_worker_after_next_round(app)
        assert httpx.post(f"{base_url}/predict", files=files, timeout=30).status_code == 200
        wait_until(lambda: not batcher.running)
        assert httpx.get(f"{base_url}/readyz", timeout=10).status_code == 503
        refused = httpx.post(f"{base_url}/predict", files=files, timeout=30)
        assert refused.status_code == 503 and "worker" in refused.json()["detail"]


def test_process_exits_non_zero_when_the_inference_worker_dies(astronaut_bytes: bytes) -> None:
    """Its supervisor (systemd, Kubernetes, uvicorn's worker manager) then starts a fresh one."""
    script = [sys.executable, str(Path(__file__).with_name("_dying_worker.py"))]
    with service_process({"FER_ORT_INTRA_OP_THREADS": "1"}, command=script) as service:
        files = {"file": ("a.png", astronaut_bytes)}
        assert httpx.post(f"{service.base_url}/predict", files=files, timeout=30).status_code == 200
        assert service.process.wait(timeout=60) == EXIT_WORKER_DIED


def test_predict_image_answers_503_when_decode_memory_is_not_free_in_time(astronaut_bytes: bytes, gates: Gates) -> None:
    """A big image holds the whole (small) budget while decoded; a second image waits, then gets 503."""
    big = cv2.imencode(".png", np.zeros((3000, 3000), np.uint8))[1].tobytes()  # needs ~50 MB: over the budget
    with serve_in_thread(decode_budget_mb=16, decode_wait_s=0.5) as (base_url, _app), ThreadPoolExecutor(1) as pool:
        gate = gates.close("decode")
        first = pool.submit(httpx.post, f"{base_url}/predict", files={"file": ("big.png", big)}, timeout=30)
        wait_until(lambda: gate.waiting == 1)
        assert gauges(base_url)["fer_decode_bytes_reserved"] == 16 * 1024 * 1024
        refused = httpx.post(f"{base_url}/predict", files={"file": ("a.png", astronaut_bytes)}, timeout=30)
        gates.open_all()
        assert first.result().status_code == 200
        assert gauges(base_url)["fer_decode_bytes_reserved"] == 0
    assert refused.status_code == 503
    assert "memory" in refused.json()["detail"] and refused.headers["retry-after"] == "1"
