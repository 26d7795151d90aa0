"""/stream clients: each sends a 640x480 JPEG, waits for its reply, sends the next (one frame in flight).

Per-message compression is off: JPEG frames do not compress, and deflating them would only
spend the CPU that server and clients share here.
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

from websockets.asyncio.client import connect

from bench.common import percentiles_ms, r3


async def stream_client(url: str, frame: bytes, seconds: float) -> dict[str, Any]:
    """Round-trip latencies, the server's own latency_ms values and the error replies of one stream."""
    round_trips: list[float] = []
    server_ms: list[float] = []
    errors = 0
    async with connect(url, compression=None, max_size=None) as ws:
        await ws.send(frame)  # first frame: connection warm-up, not counted
        await ws.recv()
        deadline = time.perf_counter() + seconds
        while time.perf_counter() < deadline:
            began = time.perf_counter()
            await ws.send(frame)
            reply = json.loads(await ws.recv())
            round_trips.append(time.perf_counter() - began)
            if "error" in reply:
                errors += 1
            else:
                server_ms.append(reply["latency_ms"] / 1000)
    return {"round_trips": round_trips, "server": server_ms, "errors": errors}


async def run_streams(port: int, frame: bytes, streams: int, seconds: float) -> dict[str, Any]:
    """Aggregate frames/s and per-frame latency of ``streams`` concurrent clients."""
    url = f"ws://127.0.0.1:{port}/stream"
    began = time.perf_counter()
    clients = await asyncio.gather(*(stream_client(url, frame, seconds) for _ in range(streams)))
    elapsed = time.perf_counter() - began
    round_trips = [t for c in clients for t in c["round_trips"]]
    frames = len(round_trips)
    return {
        "streams": streams,
        "seconds": r3(elapsed),
        "frames": frames,
        "fps_total": r3(frames / seconds),
        "fps_per_stream": r3(frames / seconds / streams),
        "round_trip": percentiles_ms(round_trips),
        "server_latency": percentiles_ms([t for c in clients for t in c["server"]]),
        "error_replies": sum(c["errors"] for c in clients),
    }
