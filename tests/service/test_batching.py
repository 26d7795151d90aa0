"""service.batching: concurrent jobs share model calls; a full queue refuses at once."""

import asyncio
import threading
from collections.abc import Awaitable, Callable

import numpy as np
import pytest

from service.batching import MicroBatcher, QueueFullError
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
) -> None:
    """Run ``test`` against a started batcher inside a fresh event loop."""

    async def main() -> None:
        batcher = MicroBatcher(model, max_batch_size, max_wait_s, max_queue, Metrics())
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


@pytest.mark.parametrize(("upcoming", "waits"), [(1, False), (2, True)])
def test_submit_waits_for_company_only_while_more_jobs_are_upcoming(upcoming: int, waits: bool) -> None:
    async def test(batcher: MicroBatcher) -> None:
        batcher.upcoming = lambda: upcoming  # 1: this job is the only one on its way
        began = asyncio.get_running_loop().time()
        await batcher.submit(np.zeros((1, 2), np.float32))
        elapsed = asyncio.get_running_loop().time() - began
        assert (elapsed >= 0.5) == waits, elapsed

    run_with_batcher(RecordingModel(), test, max_wait_s=0.5)


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
        await asyncio.sleep(0.01)  # job 2 fills the queue
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
