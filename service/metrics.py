"""Prometheus metrics, one registry per app so that tests can build several apps side by side.

The names are a contract with the Grafana dashboard: change them only together with it.

With several uvicorn workers (``FER_WORKERS > 1``) each worker is a process with its own
counters, and a scrape reaches only one of them. prometheus-client's multiprocess mode fixes
that: ``python -m service`` gives every start a fresh directory in ``PROMETHEUS_MULTIPROC_DIR``
(the variable prometheus-client itself reads when it is imported, so it is set before the
workers start), each worker writes its values to files there, and ``/metrics`` merges the
files of all workers: counters and histograms add up, gauges follow their ``multiprocess_mode``.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, disable_created_metrics, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.multiprocess import MultiProcessCollector, mark_process_dead

MULTIPROCESS_ENV = "PROMETHEUS_MULTIPROC_DIR"
# Files of live-only gauges, named by the pid of the worker that wrote them.
_LIVE_GAUGE_FILE = re.compile(r"gauge_live\w+?_(\d+)\.db")

BATCH_SIZE_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128)
# Requests take milliseconds to a few seconds on CPU; the default buckets stop at 10 s.
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


class Metrics:
    """All collectors of one app, registered in its own :class:`CollectorRegistry`."""

    content_type = CONTENT_TYPE_LATEST

    def __init__(self) -> None:
        # Every counter and histogram would also export a ``*_created`` timestamp series, which
        # the dashboard never reads and which doubles the series a scrape stores (a process-wide switch).
        disable_created_metrics()
        self.multiprocess_dir = multiprocess_dir()
        self.registry = CollectorRegistry()
        self._add_counters_and_histograms(self.registry)
        self._add_gauges(self.registry)

    def _add_counters_and_histograms(self, reg: CollectorRegistry) -> None:
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
        self.stream_frames = Counter("fer_stream_frames", "Frames received on streams", registry=reg)
        self.stream_frames_dropped = Counter(
            "fer_stream_frames_dropped", "Stale stream frames skipped because a newer one arrived", registry=reg
        )

    def _add_gauges(self, reg: CollectorRegistry) -> None:
        # In-flight gauges add up over the live workers; an exited worker's values are dropped.
        def live_sum(name: str, documentation: str) -> Gauge:
            return Gauge(name, documentation, registry=reg, multiprocess_mode="livesum")

        self.queue_depth = live_sum("fer_queue_depth", "Inference jobs waiting in the queue")
        self.images_in_flight = live_sum("fer_images_in_flight", "Images being decoded, detected or classified")
        self.open_streams = live_sum("fer_open_streams", "Open WebSocket streams")
        self.decode_bytes_reserved = live_sum(
            "fer_decode_bytes_reserved", "Memory reserved for decoding images (FER_DECODE_BUDGET_MB)"
        )
        self.event_loop_tasks = live_sum("fer_event_loop_tasks", "asyncio tasks alive in the server's event loop")
        # A task leak (e.g. from clients that vanish mid-request) shows as growth. One process reads
        # it at scrape time; workers cannot (the scrape runs in one of them): see sample_event_loop_tasks.
        if self.multiprocess_dir is None:
            self.event_loop_tasks.set_function(_count_event_loop_tasks)
        # Every worker serves the same model: the maximum over live workers is 1 per model.
        self.model_info = Gauge(
            "fer_model_info",
            "The served model (value is always 1)",
            ["name", "version"],
            registry=reg,
            multiprocess_mode="livemax",
        )

    @property
    def multiprocess(self) -> bool:
        return self.multiprocess_dir is not None

    def render(self) -> bytes:
        """The Prometheus text exposition: this app's registry, or the merged files of all workers."""
        if self.multiprocess_dir is None:
            return generate_latest(self.registry)
        forget_exited_workers(self.multiprocess_dir)
        merged = CollectorRegistry()
        MultiProcessCollector(merged, path=str(self.multiprocess_dir))
        return generate_latest(merged)

    async def sample_event_loop_tasks(self, interval_s: float = 1.0) -> None:
        """In multiprocess mode, record this worker's task count every interval until cancelled."""
        while True:
            self.event_loop_tasks.set(_count_event_loop_tasks())
            await asyncio.sleep(interval_s)

    def mark_worker_exited(self) -> None:
        """Drop this worker's live gauges when it stops (its counters stay in the totals)."""
        if self.multiprocess_dir is not None:
            mark_process_dead(os.getpid(), str(self.multiprocess_dir))


def multiprocess_dir() -> Path | None:
    """The directory of prometheus-client's multiprocess mode, if it is on in this process."""
    value = os.environ.get(MULTIPROCESS_ENV)
    return Path(value) if value else None


@contextlib.contextmanager
def multiprocess_metrics(workers: int) -> Iterator[Path | None]:
    """With several workers, a fresh multiprocess directory for this start, removed at exit.

    Fresh, because files left by an earlier start would add its counts to this one's.
    """
    if workers == 1:
        yield None
        return
    path = Path(tempfile.mkdtemp(prefix="fer-metrics-"))
    os.environ[MULTIPROCESS_ENV] = str(path)
    try:
        yield path
    finally:
        os.environ.pop(MULTIPROCESS_ENV, None)
        shutil.rmtree(path, ignore_errors=True)


def forget_exited_workers(path: Path) -> list[int]:
    """Mark dead the workers whose live gauges are on disk but whose process is gone.

    A worker that stops cleanly marks itself (:meth:`Metrics.mark_worker_exited`); one that was
    killed or crashed cannot, and uvicorn starts a replacement with a new pid.
    """
    pids = {int(m.group(1)) for f in path.iterdir() if (m := _LIVE_GAUGE_FILE.fullmatch(f.name))}
    exited = sorted(pid for pid in pids if not _process_exists(pid))
    for pid in exited:
        mark_process_dead(pid, str(path))
    return exited


def _process_exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)  # signal 0: only checks that the process exists
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # it exists, under another user
    return True


def _count_event_loop_tasks() -> float:
    """Tasks of the running loop; NaN when scraped from outside one (e.g. a test's own thread)."""
    try:
        return float(len(asyncio.all_tasks()))
    except RuntimeError:
        return math.nan
