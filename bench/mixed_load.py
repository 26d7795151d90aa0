"""Issue 27's acceptance load: everything at once against ``python -m service``, then the verdict.

Normal clients, batches, edge images, 12 streams, slow clients, a video and multipart abuse run
together for ``--seconds``, while ``/readyz`` is polled every 50 ms from a process of its own.
Passes when no answer is a 5xx other than a designed 503, every ``/readyz`` took under 100 ms and
the server's peak resident memory grew by under 1 GiB.

    python -m bench.mixed_load [--seconds 60]    # -> mixed_load.json (see bench.common for where)
"""

from __future__ import annotations

import argparse
import asyncio
import http.client
import io
import json
import multiprocessing
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from multiprocessing.connection import Connection
from pathlib import Path

import cv2
import httpx
import numpy as np
from PIL import Image
from websockets.asyncio.client import connect

from bench.common import BUILD, REPO_ROOT, output
from bench.server import RunningService, service_process

PHOTO = (REPO_ROOT / "tests" / "fixtures" / "photos" / "astronaut.png").read_bytes()
GIB_KIB = 1024 * 1024
READYZ_LIMIT_S = 0.1
Send = Callable[[httpx.AsyncClient], Awaitable[httpx.Response]]


def png(width: int, height: int, mode: str = "L") -> bytes:
    buffer = io.BytesIO()
    Image.new(mode, (width, height)).save(buffer, "PNG")
    return buffer.getvalue()


def edge_images() -> list[bytes]:
    """At the pixel limit (16-bit and RGBA), past the side limit, truncated, and not an image at all."""
    return [png(5000, 5000, "I;16"), png(5000, 5000, "RGBA"), png(1, 25_000_000), PHOTO[: len(PHOTO) // 2], b"%PDF-1.4"]


def clip() -> bytes:
    """60 frames of the photo as MJPEG: a video of a few seconds' work."""
    photo = cv2.imdecode(np.frombuffer(PHOTO, np.uint8), cv2.IMREAD_COLOR)
    assert photo is not None
    BUILD.mkdir(parents=True, exist_ok=True)
    path = BUILD / "mixed_load.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"MJPG"), 10, photo.shape[1::-1])
    for _ in range(60):
        writer.write(photo)
    writer.release()
    return path.read_bytes()


class Load:
    def __init__(self, service: RunningService, seconds: float) -> None:
        self.service = service
        self.deadline = time.monotonic() + seconds
        self.statuses: Counter[str] = Counter()
        self.readyz_s: list[float] = []

    def running(self) -> bool:
        return time.monotonic() < self.deadline

    async def repeat(self, name: str, send: Send) -> None:
        async with httpx.AsyncClient(base_url=self.service.base_url, timeout=120) as client:
            while self.running():
                try:
                    status = str((await send(client)).status_code)
                except httpx.HTTPError as exc:
                    status = type(exc).__name__
                self.statuses[f"{name} {status}"] += 1

    async def stream(self) -> None:
        url = self.service.base_url.replace("http", "ws") + "/stream"
        async with connect(url, max_size=None) as ws:
            while self.running():
                await ws.send(PHOTO)
                reply = json.loads(await ws.recv())
                self.statuses[f"stream {reply.get('status', 200)}"] += 1

    async def slow_client(self) -> None:
        """Headers a byte a second: cut off by the header timeout, again and again."""
        while self.running():
            reader, writer = await asyncio.open_connection("127.0.0.1", self.service.port)
            for byte in b"POST /predict HTTP/1.1\r\nHost: x\r\n":
                if reader.at_eof() or not self.running():
                    break
                writer.write(bytes([byte]))
                await asyncio.sleep(1)
            writer.close()


def poll_readyz(port: int, seconds: float, sink: Connection) -> None:
    """/readyz every 50 ms from a process of its own, so that the load's own event loop (12 streams,
    multipart encoding) cannot delay the measurement: the times are the server's and the network's."""
    times, statuses = [], []
    deadline = time.monotonic() + seconds
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    while time.monotonic() < deadline:
        began = time.perf_counter()
        connection.request("GET", "/readyz")
        response = connection.getresponse()
        response.read()
        times.append(time.perf_counter() - began)
        statuses.append(response.status)
        time.sleep(0.05)
    sink.send((times, statuses))


def multipart_abuse(client: httpx.AsyncClient) -> Awaitable[httpx.Response]:
    bodies = [
        b"--b\r\nContent-Disposition: form-data; name=file\r\n\r\n" + b"x" * 1000,  # never closed
        b"".join(b"--b\r\nContent-Disposition: form-data; name=f%d\r\n\r\nv\r\n" % i for i in range(2000)) + b"--b--",
    ]
    body = bodies[int(time.monotonic()) % 2]
    return client.post("/predict", content=body, headers={"Content-Type": "multipart/form-data; boundary=b"})


async def run(service: RunningService, seconds: float) -> Load:
    load, edges, video = Load(service, seconds), edge_images(), clip()
    predict = lambda c: c.post("/predict", files={"file": ("a.png", PHOTO)})  # noqa: E731
    batch = lambda c: c.post("/predict/batch", files=[("files", (f"{i}.png", PHOTO)) for i in range(8)])  # noqa: E731
    edge = lambda c: c.post("/predict", files={"file": ("e", edges[int(time.monotonic() * 10) % len(edges)])})  # noqa: E731
    upload_video = lambda c: c.post("/predict/video", files={"file": ("v.avi", video)})  # noqa: E731
    receiver, sender = multiprocessing.Pipe(duplex=False)
    poller = multiprocessing.get_context("spawn").Process(target=poll_readyz, args=(service.port, seconds, sender))
    poller.start()
    await asyncio.gather(
        *(load.repeat("predict", predict) for _ in range(4)),
        *(load.repeat("batch", batch) for _ in range(2)),
        *(load.repeat("edge", edge) for _ in range(2)),
        *(load.stream() for _ in range(12)),
        *(load.slow_client() for _ in range(20)),
        load.repeat("video", upload_video),
        load.repeat("multipart", multipart_abuse),
    )
    load.readyz_s, statuses = await asyncio.to_thread(receiver.recv)
    poller.join()
    load.statuses.update(f"readyz {status}" for status in statuses)
    return load


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--out", type=Path, default=output("mixed_load.json"))
    args = parser.parse_args()
    with service_process({"FER_HEADER_TIMEOUT_S": "5"}) as service:
        before = service.rss_kib()
        load = asyncio.run(run(service, args.seconds))
        growth_kib = service.peak_rss_kib() - before
    server_errors = {k: n for k, n in load.statuses.items() if k.split()[-1].startswith("5") and k.split()[-1] != "503"}
    result = {
        "seconds": args.seconds,
        "statuses": dict(sorted(load.statuses.items())),
        "unexpected_5xx": server_errors,
        "readyz_max_ms": round(1000 * max(load.readyz_s), 1),
        "readyz_p99_ms": round(1000 * float(np.percentile(load.readyz_s, 99)), 1),
        "peak_rss_growth_mib": growth_kib // 1024,
    }
    result["passed"] = not server_errors and max(load.readyz_s) < READYZ_LIMIT_S and growth_kib < GIB_KIB
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
