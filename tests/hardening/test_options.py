"""Client-chosen options and image shapes: 422 or 413, never a 500 or seconds of CPU (issue 27)."""

from __future__ import annotations

import io
import json
from typing import Any

import cv2
import httpx
import numpy as np
import pytest
from PIL import Image
from websockets.sync.client import connect

from training.config import parse_args

from .helpers import Gates, kill_worker_after_next_round, serve_in_thread
from .videos import mjpeg_avi, smooth_frames

OVERFLOW = 2**31  # OpenCV's detectMultiScale refused it with an exception: a 500
SMALL_PNG = cv2.imencode(".png", np.full((64, 64), 128, np.uint8))[1].tobytes()


def flat_png(width: int, height: int) -> bytes:
    """A gray PNG of any shape (OpenCV's encoder refuses very long sides)."""
    buffer = io.BytesIO()
    Image.new("L", (width, height), 200).save(buffer, "PNG")
    return buffer.getvalue()


@pytest.fixture
def gates(monkeypatch: pytest.MonkeyPatch) -> Any:
    opened = Gates(monkeypatch)
    yield opened
    opened.open_all()


def test_min_face_size_out_of_range_gets_422_on_every_route(shared_server: str) -> None:
    query = {"min_face_size": str(OVERFLOW)}
    video = mjpeg_avi(smooth_frames(64, 2))
    with httpx.Client(base_url=shared_server, timeout=30, params=query) as client:
        answers = [
            client.post("/predict", files={"file": ("a.png", SMALL_PNG)}),
            client.post("/predict/batch", files=[("files", ("a.png", SMALL_PNG))]),
            client.post("/predict/video", files={"file": ("v.avi", video)}),
        ]
    with connect(f"ws://{shared_server.removeprefix('http://')}/stream") as ws:
        ws.send(json.dumps({"min_face_size": OVERFLOW}))
        stream_reply = json.loads(ws.recv(timeout=30))
    for answer in answers:
        assert answer.status_code == 422, answer.text
        assert answer.json()["detail"] == "query.min_face_size: Input should be less than or equal to 65500"
    assert stream_reply == {
        "error": "invalid control message: min_face_size: Input should be less than or equal to 65500",
        "status": 400,
    }


def test_annotate_answers_413_for_a_side_jpeg_cannot_encode_and_works_at_the_side_limit(shared_server: str) -> None:
    too_long, at_limit = flat_png(65_536, 1), flat_png(16_384, 1)
    with httpx.Client(base_url=shared_server, timeout=30, params={"annotate": "true"}) as client:
        refused = client.post("/predict", files={"file": ("wide.png", too_long)})
        drawn = client.post("/predict", files={"file": ("wide.png", at_limit)})
    assert refused.status_code == 413  # was 500: "JPEG encoding failed" (libjpeg's sides end at 65,500)
    assert refused.json()["detail"] == "image is 65536x1, a side longer than the 16384 px allowed"
    assert drawn.status_code == 200 and drawn.headers["content-type"] == "image/jpeg"
    decoded = cv2.imdecode(np.frombuffer(drawn.content, np.uint8), cv2.IMREAD_UNCHANGED)
    assert decoded.shape[:2] == (1, 16_384)


def test_a_one_pixel_wide_image_at_the_pixel_limit_is_refused_from_its_header(gates: Gates) -> None:
    """1x25,000,000 pixels took ~2 CPU-s to decode (a square 25 MP image 0.3 s): now never decoded."""
    column = flat_png(1, 25_000_000)
    with serve_in_thread() as (base_url, _app):
        gate = gates.close("decode")  # counts every image that reaches decoding
        gates.open_all()
        answer = httpx.post(f"{base_url}/predict", files={"file": ("column.png", column)}, timeout=60)
    assert answer.status_code == 413
    assert answer.json()["detail"] == "image is 1x25000000, a side longer than the 16384 px allowed"
    assert gate.arrived == 0


def test_a_batch_that_cannot_fit_the_decode_budget_gets_413_not_a_503_retry() -> None:
    big = cv2.imencode(".png", np.zeros((3000, 3000), np.uint8))[1].tobytes()  # ~27 MB reserved each
    with serve_in_thread(decode_budget_mb=160) as (base_url, _app):
        files = [("files", (f"big{i}.png", big)) for i in range(4)]
        refused = httpx.post(f"{base_url}/predict/batch", files=files, timeout=60)
        fits = httpx.post(f"{base_url}/predict/batch", files=files[:2], timeout=60)
    assert refused.status_code == 413
    assert refused.json()["detail"] == (
        "the batch needs 252 MiB to decode, more than FER_DECODE_BUDGET_MB (160 MiB): send fewer or smaller files "
        "per batch"
    )
    assert fits.status_code == 200 and len(fits.json()["results"]) == 2


def test_stopped_worker_503s_carry_the_request_id(astronaut_bytes: bytes) -> None:
    files = {"file": ("a.png", astronaut_bytes)}
    with serve_in_thread(exit_on_worker_death=False) as (base_url, app):
        kill_worker_after_next_round(app)
        httpx.post(f"{base_url}/predict", files=files, timeout=30)
        app.state.fatal_error = "WorkerKilled()"  # what the worker's death callback records
        ready = httpx.get(f"{base_url}/readyz", headers={"X-Request-ID": "ready-1"}, timeout=10)
        refused = httpx.post(f"{base_url}/predict", files=files, headers={"X-Request-ID": "predict-1"}, timeout=30)
    assert ready.status_code == 503
    assert ready.json() == {"detail": "not ready: the inference worker died; restarting", "request_id": "ready-1"}
    assert refused.status_code == 503 and refused.json()["request_id"] == "predict-1"
    assert "worker" in refused.json()["detail"]


@pytest.mark.parametrize("option", ["--schedule cosin", "--optimizer adamw", "--class_weights inverse", "--head avg"])
def test_training_options_refuse_misspelt_values(option: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        parse_args(option.split())
    assert exited.value.code == 2
    assert "invalid choice" in capsys.readouterr().err
    assert parse_args(["--schedule", "plateau", "--class_weights", "balanced"]).schedule == "plateau"


def test_multipart_form_with_more_fields_than_the_limit_gets_400_and_at_the_limit_works(shared_server: str) -> None:
    """Forms are parsed on the event loop: past FER_MAX_FORM_FIELDS (8) parsing stops at once."""
    fields = {f"extra{i}": "v" for i in range(9)}
    with httpx.Client(base_url=shared_server, timeout=30) as client:
        over = client.post("/predict", data=fields, files={"file": ("a.png", SMALL_PNG)})
        del fields["extra8"]
        at_limit = client.post("/predict", data=fields, files={"file": ("a.png", SMALL_PNG)})
    assert over.status_code == 400, over.text
    assert over.json()["detail"] == "Too many fields. Maximum number of fields is 8."
    assert at_limit.status_code == 200 and at_limit.json()["faces"] == []
