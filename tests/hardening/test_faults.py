"""Faults: vanishing clients leak nothing, SIGTERM drains requests in flight, overload gets 503.

A missing or corrupt model is covered where startup is tested: ``tests/service/test_main.py``
(``test_main_exits_non_zero_for_a_missing_model`` / ``..._for_a_corrupt_model``: one line on
stderr, exit status 2).
"""

from __future__ import annotations

import signal
import socket
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import cv2
import httpx
import pytest
from websockets.sync.client import connect

from bench.server import service_process
from service import analysis

from .helpers import ASTRONAUT, gauges, serve_in_thread, wait_until

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


def send_and_vanish(port: int, payload: bytes, linger: float = 0.05) -> None:
    """Send ``payload`` on a fresh connection and drop it without reading the answer."""
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.sendall(payload)
        time.sleep(linger)


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


def test_disconnect_mid_request_leaks_no_tasks(astronaut_bytes: bytes) -> None:
    """Whole requests whose clients leave while the image is decoded, detected or classified."""
    head, body = multipart(astronaut_bytes)
    with serve_in_thread(max_wait_ms=50) as (base_url, _app):
        port = int(base_url.rsplit(":", 1)[1])
        idle = gauges(base_url)
        with ThreadPoolExecutor(8) as pool:
            list(pool.map(lambda linger: send_and_vanish(port, head + body, linger), [0.0, 0.005, 0.02, 0.06] * 4))
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
def gate_decoding(monkeypatch: pytest.MonkeyPatch) -> Iterator[threading.Event]:
    """Decoding waits until the returned event is set, so an image stays in flight as long as a test needs."""
    release = threading.Event()
    original = analysis.decode_image

    def gated(*args: Any, **kwargs: Any) -> Any:
        release.wait(timeout=30)
        return original(*args, **kwargs)

    monkeypatch.setattr(analysis, "decode_image", gated)
    yield release
    release.set()


def test_predict_image_answers_503_when_too_many_images_are_in_flight(
    astronaut_bytes: bytes, gate_decoding: threading.Event
) -> None:
    files = {"file": ("a.png", astronaut_bytes)}
    with serve_in_thread(max_in_flight=1) as (base_url, _app), ThreadPoolExecutor(1) as pool:
        first = pool.submit(httpx.post, f"{base_url}/predict", files=files, timeout=30)
        wait_until(lambda: gauges(base_url)["fer_images_in_flight"] == 1)
        refused = httpx.post(f"{base_url}/predict", files=files, timeout=30)
        gate_decoding.set()
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
