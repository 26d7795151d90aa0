"""Counted limits: at most ``capacity`` holders at once, and one more is refused at once.

Images in the pipeline (``FER_MAX_IN_FLIGHT``), open streams (``FER_MAX_STREAMS``) and videos
being analysed (``FER_MAX_VIDEO_JOBS``) are each a :class:`Limiter`. Past a limit the service
answers 503 with Retry-After rather than queueing: a queue would slow every holder down and let
latency grow without bound, while a refused client can retry or go to another replica.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator

from service.batching import QueueFullError
from service.leases import Lease


class Limiter:
    """Slots up to ``capacity``; :meth:`acquire` raises QueueFullError (503) when all are taken.

    Only used on the event loop thread, so no lock.
    """

    def __init__(self, capacity: int, busy: str, on_change: Callable[[int], None] | None = None) -> None:
        self.capacity = capacity
        self._busy = busy  # the refusal after the count, e.g. "videos are already being analysed"
        self._on_change = on_change  # e.g. a gauge's set: told the slots taken after every change
        self._running = 0

    @property
    def running(self) -> int:
        """How many slots are taken now."""
        return self._running

    def acquire(self) -> Lease:
        """A slot, given back when the lease's last holder drops it (work in a thread holds it too)."""
        if self._running >= self.capacity:
            raise QueueFullError(f"{self._running} {self._busy}")
        self._add(1)
        return Lease(lambda: self._add(-1))

    @contextlib.contextmanager
    def slot(self) -> Iterator[None]:
        """A slot for the ``with`` block."""
        lease = self.acquire()
        try:
            yield
        finally:
            lease.drop()

    def _add(self, change: int) -> None:
        self._running += change
        if self._on_change is not None:
            self._on_change(self._running)
