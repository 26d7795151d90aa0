"""Request heads are bounded before any body is read, and the connection limit spares the probes (issue 27)."""

from __future__ import annotations

import contextlib
import json
import socket
import time

import httpx
from hypothesis import given
from hypothesis import strategies as st

from .helpers import serve_in_thread, wait_until

MAX_HEADER_BYTES = 8 * 1024
MAX_HEADERS = 20
ONE_READ = 256 * 1024  # asyncio's largest read: what the server may hold past the limit


def port_of(base_url: str) -> int:
    return int(base_url.rsplit(":", 1)[1])


def status_and_body(reply: bytes) -> tuple[int, dict[str, object], dict[str, str]]:
    head, _, body = reply.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {name.lower(): value for name, _, value in (line.partition(": ") for line in lines[1:])}
    return int(lines[0].split()[1]), json.loads(body), headers


def send_head_of(port: int, header_value_bytes: int) -> tuple[bytes, int]:
    """A POST whose one header is ``header_value_bytes`` long, sent in 64 KiB pieces until the server answers.

    Returns the reply and how many bytes were sent before it came.
    """
    sent = 0
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(b"POST /predict HTTP/1.1\r\nHost: test\r\nContent-Length: 5\r\nX-Big: ")
        sock.setblocking(False)
        piece = b"a" * 65536
        reply = b""
        while sent < header_value_bytes:
            try:
                reply += sock.recv(65536)
                break  # the server answered before the head was complete
            except BlockingIOError:
                pass
            try:
                sent += sock.send(piece)
            except BlockingIOError:
                time.sleep(0.001)
            except (BrokenPipeError, ConnectionResetError):
                break
        sock.setblocking(True)
        while chunk := sock.recv(65536):
            reply += chunk
    return reply, sent


def test_request_head_over_the_byte_limit_gets_431_before_the_rest_is_read() -> None:
    with serve_in_thread(max_header_bytes=MAX_HEADER_BYTES, max_headers=MAX_HEADERS) as (base_url, _app):
        reply, sent = send_head_of(port_of(base_url), 200 * 1024 * 1024)  # 200 MB of one header
        assert httpx.get(f"{base_url}/healthz", timeout=10).status_code == 200
    status, body, headers = status_and_body(reply)
    assert status == 431
    assert body["detail"] == f"request headers are larger than the {MAX_HEADER_BYTES} bytes allowed"
    assert body["request_id"] == headers["x-request-id"] and len(str(body["request_id"])) == 32
    assert headers["connection"] == "close"
    # Answered after at most the limit and a few reads, not after 200 MB: the server's memory is bounded.
    assert sent < MAX_HEADER_BYTES + 16 * ONE_READ, sent


def test_request_with_too_many_headers_gets_431_and_its_body_is_never_read() -> None:
    fields = "".join(f"X-Field-{i}: {i}\r\n" for i in range(MAX_HEADERS + 1))
    head = f"POST /predict HTTP/1.1\r\nHost: t\r\nContent-Length: 10000000\r\n{fields}\r\n".encode()
    with serve_in_thread(max_header_bytes=MAX_HEADER_BYTES, max_headers=MAX_HEADERS) as (base_url, _app):
        sock = socket.create_connection(("127.0.0.1", port_of(base_url)), timeout=30)
        with sock:
            sock.sendall(head)
            reply = sock.recv(65536)  # answered without a byte of the 10 MB body
    status, body, _ = status_and_body(reply)
    assert status == 431
    assert body["detail"] == f"request has {MAX_HEADERS + 3} headers, more than the {MAX_HEADERS} allowed"


def test_probes_answer_when_the_connection_limit_is_full_and_others_get_a_json_503() -> None:
    with serve_in_thread(max_connections=4, header_timeout_s=30) as (base_url, _app):
        idle = [socket.create_connection(("127.0.0.1", port_of(base_url))) for _ in range(4)]
        try:
            wait_until(lambda: httpx.get(f"{base_url}/v1/models", timeout=10).status_code == 503)
            health = httpx.get(f"{base_url}/healthz", timeout=10)
            began = time.monotonic()
            ready = httpx.get(f"{base_url}/readyz", timeout=10)
            ready_s = time.monotonic() - began
            refused = httpx.get(f"{base_url}/v1/models", timeout=10, headers={"X-Request-ID": "probe-test-1"})
        finally:
            for sock in idle:
                sock.close()
    assert (health.status_code, health.json()) == (200, {"status": "ok"})
    assert ready.status_code == 200 and ready.json()["status"] == "ready"
    assert ready_s < 1.0
    assert refused.status_code == 503
    assert refused.headers["content-type"] == "application/json"
    assert refused.headers["retry-after"] == "1"
    assert refused.json() == {
        "detail": "4 connections are open (FER_MAX_CONNECTIONS); retry in 1 s",
        "request_id": "probe-test-1",
    }
    assert refused.headers["x-request-id"] == "probe-test-1"


def test_fuzzed_header_sizes_and_counts_get_431_exactly_when_over_a_limit(shared_server: str) -> None:
    """The shared server has the default limits (32 KiB, 100 headers)."""

    @given(count=st.integers(0, 160), size=st.integers(0, 700))
    def send(count: int, size: int) -> None:
        fields = "".join(f"X-F{i}: {'v' * size}\r\n" for i in range(count))
        head = f"GET /healthz HTTP/1.1\r\nHost: t\r\nConnection: close\r\n{fields}\r\n".encode()
        with socket.create_connection(("127.0.0.1", port_of(shared_server)), timeout=20) as sock:
            with contextlib.suppress(ConnectionError):  # the server may answer before the head is sent
                sock.sendall(head)
            reply = b"".join(iter(lambda: sock.recv(65536), b""))
        status = int(reply.split(b" ", 2)[1])
        headers = count + 2  # and Host, Connection
        # The server counts each header as name, value, ": " and CRLF; the request line adds a few bytes.
        if headers > 100 or len(head) > 32 * 1024 + 64:
            assert status == 431, (count, size)
        elif len(head) < 32 * 1024:
            assert status == 200, (count, size)

    send()
