"""Memory stays bounded by settings: small uploads that decode to the pixel limit, all at once.

The server runs in its own process, so its peak resident memory (VmHWM in /proc) is its own.
``make test`` sends 64 uploads at once; ``make test SUITE=fuzz`` (HYPOTHESIS_PROFILE=fuzz) three rounds of 128.
"""

from __future__ import annotations

import asyncio
import os
import time

import httpx

from bench.server import service_process
from service.settings import Settings

from .images import bombs_at_the_pixel_limit

GIB_KIB = 1024 * 1024
FUZZ = os.environ.get("HYPOTHESIS_PROFILE") == "fuzz"


async def post_all(base_url: str, uploads: list[tuple[str, bytes]]) -> list[int]:
    limits = httpx.Limits(max_connections=len(uploads))
    async with httpx.AsyncClient(base_url=base_url, timeout=300, limits=limits) as client:
        responses = await asyncio.gather(
            *(client.post("/predict", files={"file": (name, data)}) for name, data in uploads)
        )
    return [r.status_code for r in responses]


def test_concurrent_uploads_at_the_pixel_limit_keep_peak_memory_growth_under_1_gib() -> None:
    side = int(Settings().max_pixels ** 0.5)  # the default limit: 5000 x 5000
    bombs = bombs_at_the_pixel_limit(side)
    per_round, rounds = (128, 3) if FUZZ else (64, 1)
    uploads = [(f"{kind}-{i}", bombs[kind]) for i in range(per_round) for kind in [sorted(bombs)[i % 3]]]
    with service_process({"FER_ORT_INTRA_OP_THREADS": "1"}) as service:
        before = service.rss_kib()
        began = time.monotonic()
        statuses = [s for _ in range(rounds) for s in asyncio.run(post_all(service.base_url, uploads))]
        growth = service.peak_rss_kib() - before
        counts = {status: statuses.count(status) for status in sorted(set(statuses))}
        print(
            f"\n{len(statuses)} uploads of {side}x{side} in {time.monotonic() - began:.0f} s: {counts}; "
            f"peak RSS growth {growth / 1024:.0f} MiB (bytes: { ({k: len(v) for k, v in bombs.items()}) })"
        )
        assert set(statuses) <= {200, 413, 503}
        assert counts.get(200, 0) > 0  # the budget lets work through, it does not just refuse
        assert growth < GIB_KIB
        assert httpx.get(f"{service.base_url}/readyz", timeout=10).status_code == 200
