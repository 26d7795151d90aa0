"""Resources that follow the work: a slot or a memory reservation is freed when the work ends.

An awaiting coroutine can be cancelled (its client went away) while the worker thread it
started keeps running: Python cannot stop a thread. Counting that work as finished would let
a client that disconnects over and over get around every limit. So each resource is held by a
:class:`Lease` with one holder per party (the request's coroutine, each worker thread it
started), and is only given back when the last holder lets go.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import Callable
from concurrent.futures import Executor
from typing import TypeVar

T = TypeVar("T")


class Lease:
    """Calls ``release`` once, when every holder has dropped it. Event-loop thread only."""

    def __init__(self, release: Callable[[], None]) -> None:
        self._release = release
        self._holders = 1  # whoever created it

    def hold(self) -> None:
        if self._holders == 0:
            raise RuntimeError("the lease was already released")
        self._holders += 1

    def drop(self) -> None:
        self._holders -= 1
        if self._holders == 0:
            self._release()


async def run_holding(leases: list[Lease], executor: Executor, work: Callable[[], T]) -> T:
    """``work()`` in ``executor``; the leases stay held until the thread is done, even if we are cancelled."""
    loop = asyncio.get_running_loop()
    for lease in leases:
        lease.hold()

    def drop_all() -> None:
        for lease in leases:
            lease.drop()

    def done_in_thread(_: object) -> None:
        with contextlib.suppress(RuntimeError):  # the loop is closed: nothing is left to account for
            loop.call_soon_threadsafe(drop_all)

    future = executor.submit(work)
    future.add_done_callback(done_in_thread)
    # Cancelling the wrapper cancels the thread's future only if it has not started (then the
    # callback runs at once); a running thread keeps its leases until it returns.
    return await asyncio.wrap_future(future)


class BudgetTimeoutError(RuntimeError):
    """The memory budget had no room for this image within the allowed wait."""


class ByteBudget:
    """A first-come, first-served reservation of bytes (e.g. of decoded pixels).

    A request bigger than the whole budget is let in alone once nothing else holds any of it,
    so the budget bounds memory without making any allowed image impossible.
    """

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.used = 0
        self._waiters: deque[tuple[int, asyncio.Future[None]]] = deque()

    async def reserve(self, amount: int, timeout: float) -> Lease:
        """A lease on ``amount`` bytes; raises :class:`BudgetTimeoutError` after ``timeout`` seconds."""
        amount = min(amount, self.capacity)
        if not self._waiters and self.used + amount <= self.capacity:
            self.used += amount
        else:
            await self._wait(amount, timeout)
        return Lease(lambda: self._give_back(amount))

    async def _wait(self, amount: int, timeout: float) -> None:
        granted: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        entry = (amount, granted)
        self._waiters.append(entry)
        try:
            await asyncio.wait_for(asyncio.shield(granted), timeout)
        except BaseException as exc:  # timed out, or the request was cancelled
            self._abandon(entry)
            if isinstance(exc, TimeoutError):
                raise BudgetTimeoutError(f"no memory for this image within {timeout:g} s") from None
            raise

    def _abandon(self, entry: tuple[int, asyncio.Future[None]]) -> None:
        amount, granted = entry
        if granted.done() and not granted.cancelled():
            self._give_back(amount)  # granted just as we gave up: hand it on
            return
        self._waiters.remove(entry)
        granted.cancel()
        self._grant_waiting()  # a big request leaving may let smaller ones in

    def _give_back(self, amount: int) -> None:
        self.used -= amount
        self._grant_waiting()

    def _grant_waiting(self) -> None:
        while self._waiters and self.used + self._waiters[0][0] <= self.capacity:
            amount, granted = self._waiters.popleft()
            self.used += amount
            granted.set_result(None)
