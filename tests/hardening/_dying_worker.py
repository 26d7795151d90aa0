"""``python tests/hardening/_dying_worker.py``: the service, with an inference worker that dies after one batch.

The fault is a BaseException that is not an Exception, which nothing in the batching loop
catches: the worker task ends, as it would after a bug outside every ``try``.
"""

from __future__ import annotations

from typing import Any

from service import __main__ as entry
from service.batching import MicroBatcher


class WorkerKilled(BaseException):
    """Raised inside the worker task on its second round."""


def main() -> None:
    original = MicroBatcher._collect
    rounds = []

    async def collect_once(self: MicroBatcher) -> Any:
        if rounds:
            raise WorkerKilled()
        rounds.append(1)
        return await original(self)

    MicroBatcher._collect = collect_once  # type: ignore[method-assign]
    entry.main()


if __name__ == "__main__":
    main()
