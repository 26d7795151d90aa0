"""The service over real HTTP: /predict at several concurrencies with and without micro-batching, /stream."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from bench.common import frame_640x480, r3
from bench.httpload import closed_loop, predict_request
from bench.server import RunningService, service_process
from bench.streams import run_streams

CONCURRENCY = (1, 8, 32)
STREAMS = (1, 4)
# Batching off is the same server with one face per ONNX Runtime call.
MODES = {"on": {}, "off": {"FER_MAX_BATCH_SIZE": "1"}}


def bench_service(server_env: dict[str, str], cpu_limit_rps: float, seconds: float, warmup: float) -> dict[str, Any]:
    """Rows for /predict (batching x concurrency) and /stream (1 and 4 streams, batching on)."""
    frame = frame_640x480()
    predict_rows, stream_rows = [], []
    for mode, extra_env in MODES.items():
        with service_process({**server_env, **extra_env}) as service:
            for concurrency in CONCURRENCY:
                row = predict_row(service, frame, concurrency, seconds, warmup)
                row = {"batching": mode, **row, "of_cpu_limit": r3(row["rps"] / cpu_limit_rps)}
                predict_rows.append(row)
                print(f"/predict batching {mode} c={concurrency}: {row['rps']} req/s, p95 {row['p95_ms']} ms")
            if mode == "on":
                for streams in STREAMS:
                    stream_rows.append(stream_row(service, frame, streams, seconds, warmup))
                    print(f"/stream x{streams}: {stream_rows[-1]['fps_total']} frames/s")
    return {"server_env": server_env, "cpu_limit_rps": cpu_limit_rps, "predict": predict_rows, "stream": stream_rows}


def predict_row(service: RunningService, frame: bytes, concurrency: int, seconds: float, warmup: float) -> dict:
    request = predict_request(service.port, frame)
    asyncio.run(closed_loop(service.port, request, concurrency, warmup))
    before, server_cpu, client_cpu = service.metrics(), service.cpu_seconds(), time.process_time()
    outcome = asyncio.run(closed_loop(service.port, request, concurrency, seconds))
    server_cpu, client_cpu = service.cpu_seconds() - server_cpu, time.process_time() - client_cpu
    after = service.metrics()
    answered = max(1, sum(outcome.statuses.values()))
    return {
        "concurrency": concurrency,
        **outcome.summary(),
        "faces_per_model_call": faces_per_call(before, after),
        # Where the cores went: the server's CPU per answer (vs the pipeline's sum) and the load generator's.
        "server_cpu_ms_per_request": r3(1000 * server_cpu / answered),
        "client_cpu_ms_per_request": r3(1000 * client_cpu / answered),
    }


def stream_row(service: RunningService, frame: bytes, streams: int, seconds: float, warmup: float) -> dict:
    asyncio.run(run_streams(service.port, frame, streams, warmup))
    return asyncio.run(run_streams(service.port, frame, streams, seconds))


def faces_per_call(before: dict[str, float], after: dict[str, float]) -> float:
    """Mean ONNX Runtime batch size between two /metrics scrapes."""
    calls = after["fer_inference_batch_size_count"] - before["fer_inference_batch_size_count"]
    faces = after["fer_inference_batch_size_sum"] - before["fer_inference_batch_size_sum"]
    return r3(faces / calls) if calls else 0.0
