"""Sustained load on /predict: minutes at capacity, then past it, into load.json (docs/benchmarks.md when recorded).

    python -m bench.load [--minutes 5] [--concurrency 32] [--overload-factor 2] [--overload-seconds 30]

Capacity is what a closed loop of ``--concurrency`` clients gets in the warm-up (each client sends
its next request as soon as the last is answered, so the service runs flat out). The checks: no
5xx at all at capacity, resident memory growing less than 10 % over the capacity phase (measured
from the end of the warm-up, once allocator pools and thread stacks exist), 503 only in the
overload phase (open loop at ``--overload-factor`` x capacity), and /readyz still 200 at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from typing import Any

import httpx

from bench.common import frame_640x480, machine_info, output, r3, recording, update_json
from bench.httpload import Outcome, closed_loop, open_loop, predict_request
from bench.report import update_page
from bench.server import RunningService, service_process

RSS_EVERY_S = 5.0


async def sampled_closed_loop(
    service: RunningService, request: bytes, concurrency: int, seconds: float
) -> tuple[Outcome, list[tuple[float, int]]]:
    """A closed-loop phase with the server's RSS sampled every few seconds."""
    samples: list[tuple[float, int]] = []
    began = time.perf_counter()

    async def sample() -> None:
        while True:
            samples.append((r3(time.perf_counter() - began), service.rss_kib()))
            await asyncio.sleep(RSS_EVERY_S)

    sampler = asyncio.create_task(sample())
    outcome = await closed_loop(service.port, request, concurrency, seconds)
    sampler.cancel()
    samples.append((r3(time.perf_counter() - began), service.rss_kib()))
    return outcome, samples


def phase(name: str, offered: str, outcome: Outcome) -> dict[str, Any]:
    return {"phase": name, "offered": offered, **outcome.summary()}


def run(args: argparse.Namespace) -> dict[str, Any]:
    env = {"FER_ORT_INTRA_OP_THREADS": args.ort_threads}
    with service_process(env) as service:
        request = predict_request(service.port, frame_640x480())
        idle_kib = service.rss_kib()
        warm = asyncio.run(closed_loop(service.port, request, args.concurrency, args.warmup))
        capacity = warm.summary()["rps"]
        baseline_kib = service.rss_kib()
        steady, samples = asyncio.run(sampled_closed_loop(service, request, args.concurrency, 60 * args.minutes))
        end_kib = service.rss_kib()
        rate = args.overload_factor * capacity
        over = asyncio.run(open_loop(service.port, request, rate, args.overload_seconds))
        after = after_state(service)
    clients = f"closed loop, {args.concurrency} clients"
    phases = [
        phase("warm-up", clients, warm),
        phase("at capacity", clients, steady),
        phase("overload", f"{rate:.0f} req/s open loop ({args.overload_factor:g}x capacity)", over),
    ]
    memory = memory_summary(idle_kib, baseline_kib, end_kib, samples)
    return {
        "machine": machine_info(),
        "server_env": env,
        "capacity_rps": capacity,
        "phases": phases,
        "memory": memory,
        "after": after,
        "checks": checks(phases, memory, after),
    }


def after_state(service: RunningService) -> dict[str, Any]:
    """Readiness and the leak gauges once the load has stopped."""
    time.sleep(1.0)
    metrics = service.metrics()
    return {
        "readyz_status": httpx.get(f"{service.base_url}/readyz", timeout=10).status_code,
        "event_loop_tasks": metrics.get("fer_event_loop_tasks"),
        "images_in_flight": metrics.get("fer_images_in_flight"),
        "queue_depth": metrics.get("fer_queue_depth"),
    }


def memory_summary(idle: int, baseline: int, end: int, samples: list[tuple[float, int]]) -> dict[str, Any]:
    return {
        "idle_mib": r3(idle / 1024),
        "baseline_mib": r3(baseline / 1024),
        "end_mib": r3(end / 1024),
        "peak_mib": r3(max(kib for _t, kib in samples) / 1024),
        "growth_pct": r3(100 * (end - baseline) / baseline),
        "samples_s_kib": samples,
    }


def checks(phases: list[dict[str, Any]], memory: dict[str, Any], after: dict[str, Any]) -> list[dict[str, Any]]:
    steady, over = phases[1], phases[2]
    steady_5xx = sum(v for k, v in steady["status_counts"].items() if k.startswith("5"))
    return [
        _check("load at capacity: 5xx responses (503 included)", "0", steady_5xx, steady_5xx == 0),
        _check("load at capacity: RSS growth", "< 10 %", f"{memory['growth_pct']:.1f} %", memory["growth_pct"] < 10),
        _check(
            "overload: only 503, no other 5xx",
            "503 > 0, other 5xx 0",
            f"{over['busy_503']} x 503, {over['server_errors_5xx_not_503']} other 5xx",
            over["server_errors_5xx_not_503"] == 0 and steady_5xx == 0,
        ),
        _check("after the load: /readyz", "200", after["readyz_status"], after["readyz_status"] == 200),
    ]


def _check(name: str, goal: str, measured: Any, met: bool) -> dict[str, Any]:
    return {"check": name, "goal": goal, "measured": measured, "met": met}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=5.0)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--warmup", type=float, default=20.0, help="seconds; also measures the capacity")
    parser.add_argument("--overload-factor", type=float, default=2.0)
    parser.add_argument("--overload-seconds", type=float, default=30.0)
    parser.add_argument("--ort-threads", default="1", help="FER_ORT_INTRA_OP_THREADS of the server")
    args = parser.parse_args()
    result = run(args)
    results = output("load.json")
    for key, value in result.items():
        update_json(results, key, value)
    for check in result["checks"]:
        print(f"{'ok ' if check['met'] else 'NO '} {check['check']}: {check['measured']}")
    if recording():
        update_page()


if __name__ == "__main__":
    main()
