"""Prometheus metrics, one registry per app so that tests can build several apps side by side.

The names are a contract with the Grafana dashboard: change them only together with it.
"""

from __future__ import annotations

import asyncio
import math

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

BATCH_SIZE_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128)
# Requests take milliseconds to a few seconds on CPU; the default buckets stop at 10 s.
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


class Metrics:
    """All collectors of one app, registered in its own :class:`CollectorRegistry`."""

    content_type = CONTENT_TYPE_LATEST

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        reg = self.registry
        self.requests = Counter(
            "fer_requests", "HTTP requests by route and status", ["endpoint", "status"], registry=reg
        )
        self.request_duration = Histogram(
            "fer_request_duration_seconds", "HTTP request latency", ["endpoint"], buckets=LATENCY_BUCKETS, registry=reg
        )
        self.faces_detected = Counter("fer_faces_detected", "Faces found in images and frames", registry=reg)
        self.predictions = Counter("fer_predictions", "Faces classified, by top emotion", ["emotion"], registry=reg)
        self.batch_size = Histogram(
            "fer_inference_batch_size", "Faces per ONNX Runtime call", buckets=BATCH_SIZE_BUCKETS, registry=reg
        )
        self.inference_duration = Histogram(
            "fer_inference_duration_seconds", "ONNX Runtime call duration", buckets=LATENCY_BUCKETS, registry=reg
        )
        self.queue_wait = Histogram(
            "fer_queue_wait_seconds", "Time a job waits before its batch runs", buckets=LATENCY_BUCKETS, registry=reg
        )
        self.queue_depth = Gauge("fer_queue_depth", "Inference jobs waiting in the queue", registry=reg)
        self.images_in_flight = Gauge(
            "fer_images_in_flight", "Images being decoded, detected or classified", registry=reg
        )
        self.decode_bytes_reserved = Gauge(
            "fer_decode_bytes_reserved", "Memory reserved for decoding images (FER_DECODE_BUDGET_MB)", registry=reg
        )
        self.open_streams = Gauge("fer_open_streams", "Open WebSocket streams", registry=reg)
        self.stream_frames = Counter("fer_stream_frames", "Frames received on streams", registry=reg)
        self.stream_frames_dropped = Counter(
            "fer_stream_frames_dropped", "Stale stream frames skipped because a newer one arrived", registry=reg
        )
        self.event_loop_tasks = Gauge(
            "fer_event_loop_tasks", "asyncio tasks alive in the server's event loop", registry=reg
        )
        # Read at scrape time: a task leak (e.g. from clients that vanish mid-request) shows as growth.
        self.event_loop_tasks.set_function(_count_event_loop_tasks)
        self.model_info = Gauge(
            "fer_model_info", "The served model (value is always 1)", ["name", "version"], registry=reg
        )

    def render(self) -> bytes:
        """The Prometheus text exposition of this app's registry."""
        return generate_latest(self.registry)


def _count_event_loop_tasks() -> float:
    """Tasks of the running loop; NaN when scraped from outside one (e.g. a test's own thread)."""
    try:
        return float(len(asyncio.all_tasks()))
    except RuntimeError:
        return math.nan
