"""Micro-batching and back-pressure on a real uvicorn server: shared batches, 503 when full."""

import asyncio
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import onnxruntime as ort
import pytest


def batch_size_samples(base_url: str) -> tuple[float, float]:
    """(number of ONNX Runtime calls, faces they processed) from /metrics."""
    lines = httpx.get(f"{base_url}/metrics").text.splitlines()
    value = {line.split(" ")[0]: float(line.split(" ")[1]) for line in lines if line.startswith("fer_inference_batch")}
    return value["fer_inference_batch_size_count"], value["fer_inference_batch_size_sum"]


def test_predict_image_runs_concurrent_requests_in_shared_batches(
    live_server, make_settings, astronaut_path: Path
) -> None:
    data = astronaut_path.read_bytes()
    # A wait long enough for the faces of requests still being detected to join the batch.
    with live_server(make_settings(max_wait_ms=100)) as (base_url, _app):
        calls_before, faces_before = batch_size_samples(base_url)

        async def send_all() -> list[httpx.Response]:
            async with httpx.AsyncClient(base_url=base_url, timeout=60) as client:
                return await asyncio.gather(
                    *(client.post("/predict", files={"file": ("a.png", data)}) for _ in range(32))
                )

        responses = asyncio.run(send_all())
        calls_after, faces_after = batch_size_samples(base_url)

    assert [r.status_code for r in responses] == [200] * 32
    assert all(len(r.json()["faces"]) == 1 for r in responses)
    assert faces_after - faces_before == 32
    assert calls_after - calls_before < 32


@pytest.fixture
def block_inference(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[], tuple[threading.Event, threading.Event]]]:
    """Call it (once the server is warm) to make ONNX Runtime runs wait for ``release``.

    Returns ``(entered, release)``: ``entered`` is set when a run has started.
    """
    release = threading.Event()

    def block() -> tuple[threading.Event, threading.Event]:
        entered = threading.Event()
        original_run = ort.InferenceSession.run

        def blocking_run(self, *args, **kwargs):  # type: ignore[no-untyped-def]
            entered.set()
            release.wait(timeout=30)
            return original_run(self, *args, **kwargs)

        monkeypatch.setattr(ort.InferenceSession, "run", blocking_run)
        return entered, release

    yield block
    release.set()


def test_predict_image_answers_503_with_retry_after_when_the_queue_is_full(
    live_server, make_settings, astronaut_path: Path, block_inference
) -> None:
    files = {"file": ("a.png", astronaut_path.read_bytes())}
    settings = make_settings(max_queue=1, max_wait_ms=0)
    with live_server(settings) as (base_url, app), ThreadPoolExecutor(2) as pool:
        entered, release = block_inference()
        first = pool.submit(httpx.post, f"{base_url}/predict", files=files, timeout=60)
        assert entered.wait(timeout=30)  # request 1 is inside the model
        second = pool.submit(httpx.post, f"{base_url}/predict", files=files, timeout=60)
        wait_until(lambda: app.state.analyzer.batcher.depth == 1)  # request 2 fills the queue

        refused = httpx.post(f"{base_url}/predict", files=files, timeout=60)

        release.set()
        assert (first.result().status_code, second.result().status_code) == (200, 200)
        assert httpx.post(f"{base_url}/predict", files=files, timeout=60).status_code == 200
    assert refused.status_code == 503
    assert refused.headers["retry-after"] == "1"
    assert "busy" in refused.json()["detail"]


def wait_until(condition, timeout: float = 30) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.01)
