"""Connection-level limits: slow clients, too many connections or streams, foreign origins, huge frames."""

from __future__ import annotations

import asyncio
import base64
import os
import socket
import struct
import threading
import time

import httpx
import pytest
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

from .helpers import gauges, serve_in_thread, wait_until

SLOW_CLIENTS = 200


def port_of(base_url: str) -> int:
    return int(base_url.rsplit(":", 1)[1])


class SlowClients:
    """Clients that send one byte a second until the server closes their connection."""

    def __init__(self, port: int, payloads: list[bytes]) -> None:
        self.port = port
        self.payloads = payloads
        self.connected = 0
        self.replies: list[bytes] = []
        self.thread = threading.Thread(target=asyncio.run, args=(self._all(),), daemon=True)

    async def _all(self) -> None:
        await asyncio.gather(*(self._one(payload) for payload in self.payloads))

    async def _one(self, payload: bytes) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", self.port)
        self.connected += 1
        received = asyncio.ensure_future(reader.read())  # everything up to the server's close
        for byte in payload:
            if received.done():
                break
            writer.write(bytes([byte]))
            await asyncio.wait({received}, timeout=1.0)  # the client's pace: a byte a second
        self.replies.append(await asyncio.wait_for(received, timeout=30))
        writer.close()


def test_slow_clients_are_cut_off_and_do_not_delay_a_normal_predict(astronaut_bytes: bytes) -> None:
    files = {"file": ("a.png", astronaut_bytes)}
    with serve_in_thread(header_timeout_s=2, body_timeout_s=2) as (base_url, _app):
        httpx.post(f"{base_url}/predict", files=files, timeout=30)  # warm
        began = time.monotonic()
        assert httpx.post(f"{base_url}/predict", files=files, timeout=30).status_code == 200
        usual = time.monotonic() - began
        head = b"POST /predict HTTP/1.1\r\nHost: test\r\nContent-Length: 100\r\n"
        slowloris = [head + b"X-Slow: " + b"y" * 100] * (SLOW_CLIENTS // 2)  # headers never end
        slow_body = [head + b"\r\n" + b"x" * 100] * (SLOW_CLIENTS // 2)  # headers at once, body trickles
        clients = SlowClients(port_of(base_url), slowloris + slow_body)
        clients.thread.start()
        wait_until(lambda: clients.connected == SLOW_CLIENTS)
        began = time.monotonic()
        during = httpx.post(f"{base_url}/predict", files=files, timeout=30)
        elapsed = time.monotonic() - began
        clients.thread.join(timeout=60)
    print(f"\n/predict alone {usual * 1000:.0f} ms, beside {SLOW_CLIENTS} slow clients {elapsed * 1000:.0f} ms")
    assert during.status_code == 200
    assert elapsed < usual + 1.0
    assert len(clients.replies) == SLOW_CLIENTS  # every slow client was cut off by the server
    statuses = {reply.split(b"\r\n", 1)[0] for reply in clients.replies}
    assert statuses == {b"HTTP/1.1 408 Request Timeout"}, statuses


def test_connections_over_the_limit_get_503_until_idle_ones_time_out(astronaut_bytes: bytes) -> None:
    files = {"file": ("a.png", astronaut_bytes)}
    with serve_in_thread(max_connections=4, header_timeout_s=1) as (base_url, _app):
        idle = [socket.create_connection(("127.0.0.1", port_of(base_url))) for _ in range(4)]
        try:
            refused = httpx.post(f"{base_url}/predict", files=files, timeout=30)
            for sock in idle:  # the header timeout closes connections that never send a request
                assert sock.recv(1024).startswith(b"HTTP/1.1 408")
            accepted = httpx.post(f"{base_url}/predict", files=files, timeout=30)
        finally:
            for sock in idle:
                sock.close()
    assert refused.status_code == 503
    assert accepted.status_code == 200


def stream_url(base_url: str) -> str:
    return f"ws://{base_url.removeprefix('http://')}/stream"


def test_stream_connections_beyond_the_limit_are_refused_with_503(astronaut_bytes: bytes) -> None:
    with serve_in_thread(max_streams=2) as (base_url, _app):
        url = stream_url(base_url)
        with connect(url) as first, connect(url):
            with pytest.raises(InvalidStatus) as refused:
                connect(url)
            first.send(astronaut_bytes)
            assert '"faces"' in first.recv(timeout=30)  # the open streams are unaffected
        wait_until(lambda: gauges(base_url)["fer_open_streams"] == 0)
        with connect(url) as again:  # closed streams free their slots
            again.send(astronaut_bytes)
            assert '"faces"' in again.recv(timeout=30)
    assert refused.value.response.status_code == 503
    assert refused.value.response.headers["Retry-After"] == "1"
    assert b"FER_MAX_STREAMS" in refused.value.response.body


def test_stream_handshake_from_a_foreign_origin_is_refused_with_403() -> None:
    allowed = "https://app.example.org"
    with serve_in_thread(ws_allowed_origins=[allowed]) as (base_url, _app):
        url = stream_url(base_url)
        with pytest.raises(InvalidStatus) as refused:
            connect(url, origin="https://evil.example")  # type: ignore[arg-type]
        with connect(url, origin=base_url):  # type: ignore[arg-type]  # the demo page's own origin
            pass
        with connect(url, origin=allowed):  # type: ignore[arg-type]
            pass
        with connect(url):  # no Origin: not a browser
            pass
    assert refused.value.response.status_code == 403


def masked_frame_header(length: int) -> bytes:
    """A client's binary frame header announcing ``length`` bytes of payload (RFC 6455 5.2)."""
    return bytes([0x82, 0x80 | 127]) + struct.pack(">Q", length) + os.urandom(4)


def test_stream_frame_over_the_limit_is_refused_from_its_header() -> None:
    limit = 100_000
    with serve_in_thread(max_body_bytes=limit) as (base_url, _app):
        sock = socket.create_connection(("127.0.0.1", port_of(base_url)), timeout=30)
        key = base64.b64encode(os.urandom(16)).decode()
        sock.sendall(
            (
                f"GET /stream HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
            ).encode()
        )
        handshake = sock.recv(4096)
        sock.sendall(masked_frame_header(limit + 1) + b"only the first bytes")  # the rest never comes
        close = sock.recv(4096)
        sock.close()
    assert handshake.startswith(b"HTTP/1.1 101")
    assert close[0] == 0x88  # a close frame, sent without waiting for the announced payload
    assert struct.unpack(">H", close[2:4])[0] == 1009  # "message too big"


def test_stream_survives_a_deeply_nested_control_message(astronaut_bytes: bytes) -> None:
    with serve_in_thread() as (base_url, _app), connect(stream_url(base_url)) as ws:
        ws.send("[" * 2000 + "]" * 2000)  # deeper than Python's recursion limit, within FER_STREAM_CONTROL_MAX_BYTES
        assert "nested too deeply" in ws.recv(timeout=30)
        ws.send(astronaut_bytes)
        assert '"faces"' in ws.recv(timeout=30)
