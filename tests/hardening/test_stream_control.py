"""``/stream`` under hostile text messages, idle connections and DNS-rebinding pages (issue 27)."""

from __future__ import annotations

import base64
import json
import os
import socket
import time

import cv2
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

from .helpers import gauges, serve_in_thread, wait_until

TINY_FRAME = cv2.imencode(".png", np.full((16, 16), 128, np.uint8))[1].tobytes()  # no face: answered at once
# Characters: a reply names limits and fields (five known fields at most, ~450 characters), never the client's text.
MAX_ERROR_REPLY = 600


def stream_url(base_url: str) -> str:
    return f"ws://{base_url.removeprefix('http://')}/stream"


def replies_until_the_next_frame(ws: ClientConnection) -> tuple[list[dict[str, object]], dict[str, object]]:
    """Send a tiny frame; the replies before its own (control errors), and its own."""
    ws.send(TINY_FRAME)
    before = []
    while "frame_id" not in (reply := json.loads(ws.recv(timeout=30))):
        before.append(reply)
    return before, reply


def test_stream_control_messages_are_bounded_never_echoed_and_never_end_the_stream() -> None:
    many_keys = "{" + ",".join(f'"k{i}":0' for i in range(820_000)) + "}"  # 9.5 MB, like the report's
    with serve_in_thread() as (base_url, _app), connect(stream_url(base_url), max_size=None) as ws:
        ws.send('{"alpha": ' + "9" * 5000 + "}")  # Python refuses to parse an int of over 4,300 digits
        huge_int = json.loads(ws.recv(timeout=30))
        began = time.monotonic()
        ws.send(many_keys)
        raw_reply = ws.recv(timeout=30)
        many_keys_s = time.monotonic() - began
        ws.send('{"alpha": 0.5, "k1": 1, "k2": 2}')
        unknown = json.loads(ws.recv(timeout=30))
        _, frame = replies_until_the_next_frame(ws)
    assert huge_int == {
        "error": "invalid control message: a control message may have at most 4096 bytes",
        "status": 413,
    }
    assert json.loads(raw_reply) == huge_int and len(raw_reply) < MAX_ERROR_REPLY  # refused by size, not parsed
    assert many_keys_s < 2.0  # the report's 9.5 MB message stalled the event loop for 4 s
    assert unknown == {
        "error": "invalid control message: 2 unknown keys (allowed: smoothing, alpha, max_faces, min_face_size, "
        "detector)",
        "status": 400,
    }
    assert frame["frame_id"] == 1 and frame["faces"] == []  # the stream went on


def test_stream_control_message_with_too_many_keys_or_digits_within_the_size_is_refused() -> None:
    with serve_in_thread(stream_control_max_bytes=100_000) as (base_url, _app), connect(stream_url(base_url)) as ws:
        ws.send("[" + ",".join(["{}", '{"a": 1}'] * 20) + "]")  # 20 keys over several objects
        keys = json.loads(ws.recv(timeout=30))
        ws.send('{"alpha": ' + "9" * 5000 + "}")
        digits = json.loads(ws.recv(timeout=30))
        _, frame = replies_until_the_next_frame(ws)
    expected = {"error": "invalid control message: not a usable JSON object of at most 16 keys", "status": 400}
    assert keys == digits == expected
    assert frame["frame_id"] == 1


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=10), inner, max_size=5),
    max_leaves=30,
)
control_like = st.fixed_dictionaries(
    {},
    optional={
        "smoothing": st.booleans() | st.integers(),
        "alpha": st.floats() | st.integers(),
        "max_faces": st.integers(-(2**70), 2**70),
        "min_face_size": st.integers(-(2**70), 2**70),
        "detector": st.sampled_from(["haar", "blazeface", "other"]),
    },
)

# Python refuses to parse (or print) integers of over 4,300 digits; under and over the size limit.
long_numbers = st.integers(4000, 6000).map(lambda digits: '{"min_face_size": ' + "7" * digits + "}")


def test_stream_survives_fuzzed_text_messages(shared_server: str) -> None:
    with connect(stream_url(shared_server), compression=None) as ws:

        @given(text=st.text(max_size=200) | json_values.map(json.dumps) | control_like.map(json.dumps) | long_numbers)
        def send(text: str) -> None:
            ws.send(text)
            errors, frame = replies_until_the_next_frame(ws)
            assert "faces" in frame, frame
            for error in errors:
                assert set(error) == {"error", "status"} and error["status"] in (400, 413), error
                assert len(json.dumps(error)) < MAX_ERROR_REPLY, error

        send()
        ws.send('{"max_faces": null, "min_face_size": null, "detector": null, "smoothing": false}')


def test_idle_stream_is_closed_and_its_slot_freed() -> None:
    with serve_in_thread(max_streams=1, stream_idle_timeout_s=0.5) as (base_url, _app):
        with connect(stream_url(base_url)) as idle, pytest.raises(ConnectionClosed) as closed:
            idle.recv(timeout=30)
        wait_until(lambda: gauges(base_url)["fer_open_streams"] == 0)
        with connect(stream_url(base_url)) as again:  # the one slot is free again
            _, frame = replies_until_the_next_frame(again)
    assert closed.value.rcvd is not None
    assert (closed.value.rcvd.code, closed.value.rcvd.reason) == (
        4408,
        "no message for 0.5 s (FER_STREAM_IDLE_TIMEOUT_S)",
    )
    assert frame["frame_id"] == 1


def handshake(port: int, host: str, origin: str) -> bytes:
    key = base64.b64encode(os.urandom(16)).decode()
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(
            (
                f"GET /stream HTTP/1.1\r\nHost: {host}\r\nOrigin: {origin}\r\nUpgrade: websocket\r\n"
                f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
            ).encode()
        )
        return sock.recv(65536)


def test_stream_refuses_a_dns_rebinding_page_whose_host_and_origin_agree_on_a_foreign_name() -> None:
    with serve_in_thread() as (base_url, _app):
        port = int(base_url.rsplit(":", 1)[1])
        rebinding = handshake(port, f"rebind.example:{port}", f"http://rebind.example:{port}")
        own_page = handshake(port, f"127.0.0.1:{port}", f"http://127.0.0.1:{port}")
    with serve_in_thread(ws_allowed_hosts=["fer.example.org"]) as (base_url, _app):
        port = int(base_url.rsplit(":", 1)[1])
        configured = handshake(port, f"FER.example.org:{port}", f"http://fer.example.org:{port}")
    assert rebinding.startswith(b"HTTP/1.1 403")
    assert json.loads(rebinding.split(b"\r\n\r\n", 1)[1]) == {
        "detail": "this page's origin is not allowed (FER_WS_ALLOWED_ORIGINS, FER_WS_ALLOWED_HOSTS)"
    }
    assert own_page.startswith(b"HTTP/1.1 101")
    assert configured.startswith(b"HTTP/1.1 101")
