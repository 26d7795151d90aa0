"""Micro-batching: faces from concurrent requests and stream frames share ONNX Runtime calls.

One asyncio task takes the first waiting job, waits at most ``max_wait_s`` for more (up to
``max_batch_size`` faces; not at all when it is told that no other image is on its way), and
runs the model on a single dedicated thread, so the event loop stays free and ONNX Runtime
never runs two batches at once (its own thread pool is the parallelism). The queue is bounded:
when it is full :meth:`MicroBatcher.submit` raises :class:`QueueFullError` at once instead of
letting latency grow without limit.

No job is lost or left hanging: jobs the worker has taken are tracked until they are answered,
a failing batch fails only its own jobs, an error anywhere in the loop is logged and survived,
and if the worker task ends anyway every waiting job fails and ``on_death`` is called (the app
then reports not ready and stops the process so that its supervisor restarts it).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np

from service.metrics import Metrics

logger = logging.getLogger(__name__)

RunModel = Callable[[np.ndarray], np.ndarray]
# How many jobs may still be submitted soon (e.g. images being decoded or detected right now).
Upcoming = Callable[[], int]
OnDeath = Callable[[BaseException], None]


class QueueFullError(RuntimeError):
    """The service is at a limit (the batch queue, or a :class:`~service.limits.Limiter`); retry later (503)."""


class WorkerStoppedError(RuntimeError):
    """The inference worker is not running (shutting down, or died); the caller should retry elsewhere."""


@dataclass
class _Job:
    inputs: np.ndarray
    future: asyncio.Future[np.ndarray]
    enqueued_at: float = field(default_factory=time.perf_counter)


class MicroBatcher:
    """Queue model inputs ``(n, ...)`` and get back outputs ``(n, ...)`` from shared batches."""

    def __init__(
        self,
        run_model: RunModel,
        max_batch_size: int,
        max_wait_s: float,
        max_queue: int,
        metrics: Metrics,
        upcoming: Upcoming | None = None,
    ) -> None:
        self._run_model = run_model
        self.max_batch_size = max_batch_size
        self.max_wait_s = max_wait_s
        self.max_queue = max_queue
        self._metrics = metrics
        self._queue: asyncio.Queue[_Job] | None = None
        self._worker: asyncio.Task[None] | None = None
        self._executor: ThreadPoolExecutor | None = None
        self._taken: list[_Job] = []  # off the queue, not yet answered
        self._stopping = False
        # None: always wait up to max_wait_s; else how many jobs the pipeline feeding this batcher may still send.
        self.upcoming = upcoming
        self.on_death: OnDeath | None = None

    @property
    def running(self) -> bool:
        return self._worker is not None and not self._worker.done()

    @property
    def in_progress(self) -> int:
        """Jobs taken off the queue and not yet answered."""
        return len(self._taken)

    @property
    def depth(self) -> int:
        return self._queue.qsize() if self._queue is not None else 0

    async def start(self) -> None:
        self._queue = asyncio.Queue(maxsize=self.max_queue)
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="fer-infer")
        self._worker = asyncio.create_task(self._serve(), name="fer-micro-batcher")
        self._worker.add_done_callback(self._worker_ended)

    async def stop(self) -> None:
        """Stop the worker and fail every job not yet answered; never blocks the event loop."""
        self._stopping = True
        if self._worker is not None and not self._worker.done():  # a dead worker has nothing to stop
            self._worker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._worker
        if self._executor is not None:  # a batch may still be running in it: wait off the loop
            await asyncio.to_thread(self._executor.shutdown, wait=True)
        self._fail_pending(WorkerStoppedError("the service is shutting down"))

    async def submit(self, inputs: np.ndarray) -> np.ndarray:
        """Outputs for ``inputs``, computed in a batch with whatever else is waiting."""
        if self._queue is None or not self.running:
            raise WorkerStoppedError("the inference worker is not running")
        job = _Job(inputs, asyncio.get_running_loop().create_future())
        try:
            self._queue.put_nowait(job)
        except asyncio.QueueFull:
            raise QueueFullError(f"inference queue is full ({self.max_queue} jobs waiting)") from None
        self._metrics.queue_depth.set(self._queue.qsize())
        return await job.future

    async def _serve(self) -> None:
        while True:
            try:
                await self._run(await self._collect())
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # a bug in one round must not end the worker: its jobs get the error
                logger.exception("the batching loop failed; its jobs get the error and it goes on")
                self._settle(self._taken, error=exc)
            self._taken = []

    def _worker_ended(self, task: asyncio.Task[None]) -> None:
        """Fail whatever waits; if this was not a requested stop, tell the owner the worker died."""
        if self._stopping:
            return
        error = task.exception() if not task.cancelled() else None
        cause = error or WorkerStoppedError("the inference worker stopped")
        logger.critical("the inference worker died: %r", cause)
        self._fail_pending(WorkerStoppedError("the inference worker died"))
        if self.on_death is not None:
            self.on_death(cause)

    async def _collect(self) -> list[_Job]:
        """The first waiting job plus any that arrive within ``max_wait_s``, up to a full batch.

        Each job is recorded in ``_taken`` as soon as it leaves the queue, so a cancellation
        here cannot lose it: :meth:`stop` fails it.
        """
        assert self._queue is not None
        jobs = self._taken
        jobs.append(await self._queue.get())
        faces = len(jobs[0].inputs)
        deadline = time.perf_counter() + self.max_wait_s
        while faces < self.max_batch_size:
            if self._queue.empty() and not self._more_may_come(len(jobs)):
                break  # waiting would only add latency: a lone stream or request runs at once
            job = await self._get_within(deadline - time.perf_counter())
            if job is None:
                break
            jobs.append(job)
            faces += len(job.inputs)
        self._metrics.queue_depth.set(self._queue.qsize())
        return list(jobs)

    async def _get_within(self, seconds: float) -> _Job | None:
        """The next job if one arrives within ``seconds``; a job taken while we are cancelled is kept."""
        assert self._queue is not None
        if seconds <= 0:
            try:
                return self._queue.get_nowait()
            except asyncio.QueueEmpty:
                return None
        getter = asyncio.ensure_future(self._queue.get())
        try:
            await asyncio.wait({getter}, timeout=seconds)
        except BaseException:  # cancelled
            if getter.done() and not getter.cancelled():
                self._taken.append(getter.result())  # taken just as we were cancelled: stop() fails it
            getter.cancel()
            raise
        if getter.done():
            return getter.result()
        getter.cancel()  # Queue.get leaves its item in the queue when cancelled
        return None

    def _more_may_come(self, collected: int) -> bool:
        """Whether another job may join: the feeder has more work upstream than what was collected."""
        return self.upcoming is None or self.upcoming() > collected

    async def _run(self, jobs: list[_Job]) -> None:
        """Run the jobs' inputs in chunks of ``max_batch_size`` and hand each job its slice."""
        started = time.perf_counter()
        for job in jobs:
            self._metrics.queue_wait.observe(started - job.enqueued_at)
        inputs = np.concatenate([job.inputs for job in jobs])
        loop = asyncio.get_running_loop()
        try:
            outputs = await loop.run_in_executor(self._executor, self._run_chunks, inputs)
        except Exception as exc:  # one bad batch must not stop the worker: its callers get the error
            logger.exception("inference failed for a batch of %d faces", len(inputs))
            self._settle(jobs, error=exc)
            return
        offset = 0
        for job in jobs:
            if not job.future.done():  # done already when the caller went away, e.g. a closed stream
                job.future.set_result(outputs[offset : offset + len(job.inputs)])
            offset += len(job.inputs)

    @staticmethod
    def _settle(jobs: list[_Job], error: Exception) -> None:
        for job in jobs:
            if not job.future.done():
                job.future.set_exception(error)

    def _run_chunks(self, inputs: np.ndarray) -> np.ndarray:
        """Runs on the inference thread."""
        results = []
        for start in range(0, len(inputs), self.max_batch_size):
            chunk = inputs[start : start + self.max_batch_size]
            began = time.perf_counter()
            results.append(self._run_model(chunk))
            self._metrics.inference_duration.observe(time.perf_counter() - began)
            self._metrics.batch_size.observe(len(chunk))
        return np.concatenate(results)

    def _fail_pending(self, error: Exception) -> None:
        pending = list(self._taken)
        while self._queue is not None and not self._queue.empty():
            pending.append(self._queue.get_nowait())
        self._settle(pending, error=error)
        self._taken = []
        self._metrics.queue_depth.set(0)
