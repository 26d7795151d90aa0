"""A lean HTTP/1.1 load generator for /predict on asyncio streams.

The client shares the machine's cores with the server, so it is kept as cheap as possible: the
request bytes are built once, connections are kept alive, and a reply is read by its
Content-Length without parsing JSON (about 50 µs of client CPU per request, far less than httpx).
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from bench.common import percentiles_ms, r3

BOUNDARY = "fer-bench-7d1f0b3c"
REQUEST_TIMEOUT_S = 30.0


def predict_request(port: int, jpeg: bytes, path: str = "/predict") -> bytes:
    """A complete keep-alive POST of ``jpeg`` as the multipart field ``file``."""
    part = (
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="frame.jpg"\r\n'
        "Content-Type: image/jpeg\r\n\r\n"
    ).encode()
    body = part + jpeg + f"\r\n--{BOUNDARY}--\r\n".encode()
    head = (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
        f"Content-Type: multipart/form-data; boundary={BOUNDARY}\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


class Connection:
    """One keep-alive connection; :meth:`send` returns the status code."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def send(self, request: bytes) -> int:
        if self.writer is None or self.reader is None:
            self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port)
        self.writer.write(request)
        head = await self.reader.readuntil(b"\r\n\r\n")
        headers = head.lower()
        start = headers.find(b"content-length:")
        length = int(headers[start + 15 : headers.find(b"\r\n", start)]) if start >= 0 else 0
        await self.reader.readexactly(length)
        if b"connection: close" in headers:
            self.close()
        return int(head.split(b" ", 2)[1])

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None


@dataclass
class Outcome:
    """What a load phase saw: latency per answered request, status counts, transport failures."""

    latencies: list[float] = field(default_factory=list)
    statuses: Counter[int] = field(default_factory=Counter)
    failures: Counter[str] = field(default_factory=Counter)
    elapsed: float = 0.0

    async def call(self, conn: Connection, request: bytes) -> None:
        began = time.perf_counter()
        try:
            status = await asyncio.wait_for(conn.send(request), REQUEST_TIMEOUT_S)
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, TimeoutError, ValueError) as exc:
            self.failures[type(exc).__name__] += 1
            conn.close()
            return
        self.statuses[status] += 1
        self.latencies.append(time.perf_counter() - began)

    def summary(self) -> dict[str, Any]:
        ok = self.statuses.get(200, 0)
        return {
            "seconds": r3(self.elapsed),
            "requests": sum(self.statuses.values()),
            "rps": r3(ok / self.elapsed) if self.elapsed else 0.0,
            **percentiles_ms(self.latencies),
            "status_counts": {str(k): v for k, v in sorted(self.statuses.items())},
            "server_errors_5xx_not_503": sum(v for k, v in self.statuses.items() if k >= 500 and k != 503),
            "busy_503": self.statuses.get(503, 0),
            "transport_failures": dict(self.failures),
        }


async def closed_loop(port: int, request: bytes, concurrency: int, seconds: float) -> Outcome:
    """``concurrency`` clients, each sending its next request as soon as the previous is answered."""
    outcome = Outcome()
    began = time.perf_counter()
    deadline = began + seconds

    async def client() -> None:
        conn = Connection(port)
        while time.perf_counter() < deadline:
            await outcome.call(conn, request)
        conn.close()

    await asyncio.gather(*(client() for _ in range(concurrency)))
    outcome.elapsed = time.perf_counter() - began
    return outcome


async def open_loop(port: int, request: bytes, rate: float, seconds: float, max_connections: int = 512) -> Outcome:
    """Requests started at ``rate`` per second whatever the answers do (to drive the service past capacity)."""
    outcome = Outcome()
    idle: list[Connection] = []
    opened = 0
    pending: set[asyncio.Task[None]] = set()

    async def one() -> None:
        conn = idle.pop() if idle else Connection(port)
        await outcome.call(conn, request)
        idle.append(conn)

    began = time.perf_counter()
    for i in range(int(rate * seconds)):
        await asyncio.sleep(max(0.0, began + i / rate - time.perf_counter()))
        if not idle and opened >= max_connections:
            outcome.failures["client_at_max_connections"] += 1
            continue
        opened += 0 if idle else 1
        task = asyncio.create_task(one())
        pending.add(task)
        task.add_done_callback(pending.discard)
    await asyncio.gather(*pending)
    outcome.elapsed = time.perf_counter() - began
    for conn in idle:
        conn.close()
    return outcome
