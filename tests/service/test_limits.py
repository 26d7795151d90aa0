"""service.limits: one Limiter counts images in flight, open streams and video jobs."""

import pytest

from service.batching import QueueFullError
from service.limits import Limiter


def test_acquire_refuses_one_more_than_the_capacity_and_says_how_many_hold_a_slot() -> None:
    limiter = Limiter(2, "things are busy")
    first, second = limiter.acquire(), limiter.acquire()
    with pytest.raises(QueueFullError, match="^2 things are busy$"):
        limiter.acquire()
    assert limiter.running == 2
    first.drop()
    second.drop()
    assert limiter.running == 0


def test_a_slot_stays_taken_until_every_holder_of_its_lease_drops_it() -> None:
    limiter = Limiter(1, "things are busy")
    lease = limiter.acquire()
    lease.hold()  # e.g. a worker thread still decoding for a request that was cancelled
    lease.drop()
    assert limiter.running == 1
    lease.drop()
    assert limiter.running == 0


def test_slot_gives_the_slot_back_when_its_block_raises() -> None:
    limiter = Limiter(1, "things are busy")
    with pytest.raises(ValueError), limiter.slot():
        assert limiter.running == 1
        raise ValueError("the job failed")
    assert limiter.running == 0


def test_on_change_is_told_the_slots_taken_after_every_change() -> None:
    seen: list[int] = []
    limiter = Limiter(3, "things are busy", on_change=seen.append)
    with limiter.slot(), limiter.slot():
        pass
    assert seen == [1, 2, 1, 0]
