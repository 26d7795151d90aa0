"""service.batching: concurrent jobs share model calls; a full queue refuses at once."""

import asyncio
import threading
from collections.abc import Awaitable, Callable

import numpy as np
import pytest

from service.batching import MicroBatcher, QueueFullError, WorkerStoppedError
from service.metrics import Metrics


class RecordingModel:
    """Doubles its input and records the batch sizes it was called with; can be held back."""

    def __init__(self) -> None:
        self.batch_sizes: list[int] = []
        self.release = threading.Event()
        self.release.set()
        self.entered = threading.Event()

    def __call__(self, inputs: np.ndarray) -> np.ndarray:
        self.entered.set()
        assert self.release.wait(timeout=10), "test model was never released"
        self.batch_sizes.append(len(inputs))
        return inputs * 2


def run_with_batcher(
    model: Callable[[np.ndarray], np.ndarray],
    test: Callable[[MicroBatcher], Awaitable[None]],
    max_batch_size: int = 32,
    max_wait_s: float = 0.05,
    max_queue: int = 64,
    upcoming: Callable[[], int] | None = None,
) -> None:
    """Run ``test`` against a started batcher inside a fresh event loop."""

    async def main() -> None:
        batcher = MicroBatcher(model, max_batch_size, max_wait_s, max_queue, Metrics(), upcoming)
        await batcher.start()
        try:
            await test(batcher)
        finally:
            await batcher.stop()

    asyncio.run(main())


def test_submit_runs_concurrent_jobs_in_one_batch() -> None:
    model = RecordingModel()

    async def test(batcher: MicroBatcher) -> None:
        jobs = [np.full((1, 2), i, np.float32) for i in range(5)]
        results = await asyncio.gather(*(batcher.submit(job) for job in jobs))
        for job, result in zip(jobs, results, strict=True):
            np.testing.assert_array_equal(result, job * 2)

    run_with_batcher(model, test)
    assert model.batch_sizes == [5]


def test_submit_runs_a_lone_job_at_once_when_no_other_is_upcoming() -> None:
    """One image in flight: its job runs without waiting (a 60 s wait would time the test out)."""
    model = RecordingModel()

    async def test(batcher: MicroBatcher) -> None:
        result = await asyncio.wait_for(batcher.submit(np.ones((1, 2), np.float32)), timeout=10)
        assert result.tolist() == [[2.0, 2.0]]

    run_with_batcher(model, test, max_wait_s=60, upcoming=lambda: 1)
    assert model.batch_sizes == [1]


def test_submit_waits_for_a_job_that_is_upcoming() -> None:
    """Two images in flight: the first job waits for the second, which joins its batch."""
    model = RecordingModel()

    async def test(batcher: MicroBatcher) -> None:
        first = asyncio.create_task(batcher.submit(np.zeros((1, 2), np.float32)))
        await until(lambda: batcher.in_progress == 1)  # the worker took job 1 and waits for company
        second = batcher.submit(np.ones((1, 2), np.float32))
        await asyncio.wait_for(asyncio.gather(first, second), timeout=10)

    run_with_batcher(model, test, max_wait_s=60, upcoming=lambda: 2)
    assert model.batch_sizes == [2]


async def until(condition: Callable[[], bool]) -> None:
    """Yield to the event loop until ``condition`` holds (no clock involved)."""
    for _ in range(10_000):
        if condition():
            return
        await asyncio.sleep(0)
    raise AssertionError("condition never held")


def test_submit_splits_work_above_the_maximum_batch_size() -> None:
    model = RecordingModel()

    async def test(batcher: MicroBatcher) -> None:
        inputs = np.arange(10, dtype=np.float32).reshape(10, 1)
        np.testing.assert_array_equal(await batcher.submit(inputs), inputs * 2)

    run_with_batcher(model, test, max_batch_size=4)
    assert model.batch_sizes == [4, 4, 2]


def test_submit_raises_queue_full_when_the_queue_is_full() -> None:
    model = RecordingModel()
    model.release.clear()

    async def test(batcher: MicroBatcher) -> None:
        running = asyncio.create_task(batcher.submit(np.zeros((1, 1), np.float32)))
        await asyncio.to_thread(model.entered.wait, 10)  # the worker holds job 1 in the model
        waiting = asyncio.create_task(batcher.submit(np.zeros((1, 1), np.float32)))
        await until(lambda: batcher.depth == 1)  # job 2 fills the queue
        with pytest.raises(QueueFullError):
            await batcher.submit(np.zeros((1, 1), np.float32))
        model.release.set()
        await asyncio.gather(running, waiting)

    run_with_batcher(model, test, max_queue=1, max_wait_s=0.0)


def test_submit_passes_model_errors_to_the_callers_and_keeps_serving() -> None:
    calls = []

    def flaky(inputs: np.ndarray) -> np.ndarray:
        calls.append(len(inputs))
        if len(calls) == 1:
            raise RuntimeError("boom")
        return inputs

    async def test(batcher: MicroBatcher) -> None:
        with pytest.raises(RuntimeError, match="boom"):
            await batcher.submit(np.zeros((1, 1), np.float32))
        assert (await batcher.submit(np.ones((1, 1), np.float32))).tolist() == [[1.0]]

    run_with_batcher(flaky, test, max_wait_s=0.0)


def test_submit_records_batch_and_queue_metrics() -> None:
    metrics = Metrics()

    async def main() -> None:
        batcher = MicroBatcher(lambda x: x, 32, 0.02, 8, metrics)
        await batcher.start()
        await asyncio.gather(*(batcher.submit(np.zeros((1, 1), np.float32)) for _ in range(3)))
        await batcher.stop()

    asyncio.run(main())
    assert metrics.registry.get_sample_value("fer_inference_batch_size_count") == 1
    assert metrics.registry.get_sample_value("fer_inference_batch_size_sum") == 3
    assert metrics.registry.get_sample_value("fer_queue_wait_seconds_count") == 3
    assert metrics.registry.get_sample_value("fer_inference_duration_seconds_count") == 1


def test_stop_fails_a_job_taken_while_the_worker_waited_for_company() -> None:
    """Cancelled inside _collect: the job it had taken gets an error instead of hanging."""

    async def main() -> None:
        batcher = MicroBatcher(RecordingModel(), 32, 60.0, 8, Metrics(), upcoming=lambda: 5)
        await batcher.start()
        job = asyncio.create_task(batcher.submit(np.zeros((1, 1), np.float32)))
        await until(lambda: batcher.in_progress == 1)  # taken off the queue, waiting for the 4 upcoming jobs
        await batcher.stop()
        with pytest.raises(WorkerStoppedError, match="shutting down"):
            await asyncio.wait_for(job, timeout=10)

    asyncio.run(main())


def test_stop_answers_every_job_and_keeps_the_loop_free_while_a_batch_runs() -> None:
    model = RecordingModel()
    model.release.clear()

    async def main() -> None:
        batcher = MicroBatcher(model, 1, 0.0, 8, Metrics())
        await batcher.start()
        jobs = [asyncio.create_task(batcher.submit(np.full((1, 1), i, np.float32))) for i in range(3)]
        await asyncio.to_thread(model.entered.wait, 10)  # job 0 is inside the model, 1 and 2 wait
        stopping = asyncio.create_task(batcher.stop())
        for _ in range(20):  # were stop() to block the loop, we would only get here after it returned
            await asyncio.sleep(0)
        assert not stopping.done()  # still waiting for the model, off the loop
        model.release.set()
        await asyncio.wait_for(stopping, timeout=10)
        outcomes = await asyncio.wait_for(asyncio.gather(*jobs, return_exceptions=True), timeout=10)
        assert all(isinstance(o, WorkerStoppedError) for o in outcomes[1:])
        assert isinstance(outcomes[0], WorkerStoppedError) or outcomes[0].tolist() == [[0.0]]

    asyncio.run(main())


def test_submit_survives_an_error_in_the_batching_loop() -> None:
    """An exception outside the model call (here: in a metric) fails that round's jobs only."""
    metrics = Metrics()
    observe = metrics.queue_wait.observe
    calls = []

    def failing_once(value: float) -> None:
        calls.append(value)
        if len(calls) == 1:
            raise ValueError("injected")
        observe(value)

    metrics.queue_wait.observe = failing_once  # type: ignore[method-assign]

    async def main() -> None:
        batcher = MicroBatcher(lambda x: x * 3, 32, 0.0, 8, metrics)
        await batcher.start()
        with pytest.raises(ValueError, match="injected"):
            await batcher.submit(np.ones((1, 1), np.float32))
        assert batcher.running
        assert (await batcher.submit(np.ones((1, 1), np.float32))).tolist() == [[3.0]]
        await batcher.stop()

    asyncio.run(main())


class WorkerKilled(BaseException):
    """Not an Exception: nothing in the loop catches it, so the worker task ends with it."""


def test_worker_death_fails_waiting_jobs_and_tells_the_owner() -> None:
    deaths: list[BaseException] = []

    async def main() -> None:
        batcher = MicroBatcher(lambda x: x, 32, 0.0, 8, Metrics())
        batcher.on_death = deaths.append

        async def dying_collect() -> list:
            raise WorkerKilled()

        await batcher.start()
        job = asyncio.create_task(batcher.submit(np.ones((1, 1), np.float32)))
        batcher._collect = dying_collect  # type: ignore[method-assign]  # the next round kills the worker
        with pytest.raises(WorkerStoppedError):
            await asyncio.wait_for(job, timeout=10)
        assert not batcher.running
        with pytest.raises(WorkerStoppedError):
            await batcher.submit(np.ones((1, 1), np.float32))
        await batcher.stop()

    asyncio.run(main())
    assert len(deaths) == 1 and isinstance(deaths[0], WorkerKilled)
