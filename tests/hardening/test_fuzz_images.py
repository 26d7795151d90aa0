"""Hypothesis-made hostile uploads: never a 5xx, never a hang, and the service stays ready.

``make test`` runs a few dozen examples per test; ``make test SUITE=fuzz`` (``HYPOTHESIS_PROFILE=fuzz``) hundreds.
"""

from __future__ import annotations

import json

import httpx
from hypothesis import given
from hypothesis import strategies as st
from websockets.sync.client import connect

from .helpers import assert_ready
from .images import hostile_uploads

EXPECTED = {200, 400, 413, 415}  # 413: a header over FER_MAX_PIXELS; 415: GIF, PDF, text, ...
TIMEOUT_S = 20  # far above any legitimate answer: a timeout here is a hang


def test_predict_image_answers_hostile_uploads_without_5xx(shared_server: str) -> None:
    with httpx.Client(base_url=shared_server, timeout=TIMEOUT_S) as client:

        @given(data=hostile_uploads())
        def post(data: bytes) -> None:
            response = client.post("/predict", files={"file": ("upload", data)})
            assert response.status_code in EXPECTED, response.text

        post()
    assert_ready(shared_server)


def test_predict_batch_answers_hostile_uploads_per_file(shared_server: str) -> None:
    with httpx.Client(base_url=shared_server, timeout=TIMEOUT_S) as client:

        @given(files=st.lists(hostile_uploads(), min_size=1, max_size=4))
        def post(files: list[bytes]) -> None:
            response = client.post("/predict/batch", files=[("files", (f"f{i}", d)) for i, d in enumerate(files)])
            assert response.status_code == 200, response.text
            results = response.json()["results"]
            assert len(results) == len(files)
            assert all(r["error"]["status"] in EXPECTED for r in results if "error" in r)

        post()
    assert_ready(shared_server)


def test_stream_frames_answers_hostile_frames_and_stays_open(shared_server: str) -> None:
    with connect(f"ws://{shared_server.removeprefix('http://')}/stream", compression=None) as ws:

        @given(frame=hostile_uploads())
        def send(frame: bytes) -> None:
            ws.send(frame)
            reply = json.loads(ws.recv(timeout=TIMEOUT_S))
            assert reply.get("status", 200) in EXPECTED, reply

        send()
    assert_ready(shared_server)
