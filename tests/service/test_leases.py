"""service.leases: slots and memory are given back when the work ends, not when its caller gives up."""

import asyncio
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from service.leases import BudgetTimeoutError, ByteBudget, Lease, run_holding


def test_lease_releases_once_when_every_holder_has_dropped_it() -> None:
    released = []
    lease = Lease(lambda: released.append(True))
    lease.hold()
    lease.drop()
    assert released == []
    lease.drop()
    assert released == [True]
    with pytest.raises(RuntimeError):
        lease.hold()


def test_run_holding_keeps_the_lease_until_the_thread_ends_even_when_cancelled() -> None:
    released = asyncio.Event
    started, finish = threading.Event(), threading.Event()

    async def main() -> None:
        done = released()
        lease = Lease(done.set)
        with ThreadPoolExecutor(1) as pool:
            task = asyncio.create_task(run_holding([lease], pool, lambda: (started.set(), finish.wait(10))))
            await asyncio.to_thread(started.wait, 10)
            task.cancel()  # the client went away
            with pytest.raises(asyncio.CancelledError):
                await task
            lease.drop()  # the caller lets go too
            assert not done.is_set()  # but the thread still works
            finish.set()
            await asyncio.wait_for(done.wait(), timeout=10)

    asyncio.run(main())


def test_byte_budget_grants_waiting_reservations_in_arrival_order() -> None:
    async def main() -> list[str]:
        budget = ByteBudget(100)
        order: list[str] = []
        first = await budget.reserve(80, timeout=10)

        async def wait_for(name: str, amount: int) -> Lease:
            lease = await budget.reserve(amount, timeout=10)
            order.append(name)
            return lease

        big = asyncio.create_task(wait_for("big", 60))
        small = asyncio.create_task(wait_for("small", 10))  # would fit now, but waits its turn
        await asyncio.sleep(0)
        assert order == [] and budget.used == 80
        first.drop()
        (await big).drop()
        (await small).drop()
        assert budget.used == 0
        return order

    assert asyncio.run(main()) == ["big", "small"]


def test_byte_budget_times_out_and_lets_a_request_larger_than_itself_in_alone() -> None:
    async def main() -> None:
        budget = ByteBudget(100)
        held = await budget.reserve(1, timeout=1)
        with pytest.raises(BudgetTimeoutError):
            await budget.reserve(500, timeout=0.01)  # needs the whole budget: waits for the 1 byte
        assert budget.used == 1 and not budget._waiters
        held.drop()
        whole = await budget.reserve(500, timeout=1)
        assert budget.used == 100
        whole.drop()

    asyncio.run(main())
