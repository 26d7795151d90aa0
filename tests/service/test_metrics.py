"""service.metrics with several workers: /metrics adds up every worker (prometheus-client multiprocess mode)."""

import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
from prometheus_client import CollectorRegistry
from prometheus_client.multiprocess import MultiProcessCollector

from bench.server import RunningService, service_process
from service.metrics import MULTIPROCESS_ENV, forget_exited_workers, multiprocess_metrics

PREDICT_200 = {"endpoint": "/predict", "status": "200"}
METRICS_200 = {"endpoint": "/metrics", "status": "200"}


def test_multiprocess_metrics_gives_each_start_a_fresh_directory(monkeypatch, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    monkeypatch.delenv(MULTIPROCESS_ENV, raising=False)
    with multiprocess_metrics(1) as none:
        assert none is None and MULTIPROCESS_ENV not in os.environ
    with multiprocess_metrics(2) as first:
        assert first is not None and os.environ[MULTIPROCESS_ENV] == str(first) and not any(first.iterdir())
    with multiprocess_metrics(2) as second:
        assert second is not None and second != first
    assert not first.exists() and not second.exists() and MULTIPROCESS_ENV not in os.environ


def exited_pid() -> int:
    """The pid of a process that has exited and been reaped."""
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def test_forget_exited_workers_drops_only_the_live_gauges_of_gone_processes(tmp_path: Path) -> None:
    gone, alive = exited_pid(), os.getpid()
    names = [f"{kind}_{pid}.db" for pid in (gone, alive) for kind in ("counter", "gauge_livesum", "gauge_livemax")]
    for name in names:
        (tmp_path / name).write_bytes(b"")
    assert forget_exited_workers(tmp_path) == [gone]
    left = sorted(f.name for f in tmp_path.iterdir())
    assert left == sorted(n for n in names if str(alive) in n or n.startswith("counter")), left


def per_worker(metrics_dir: Path, scratch: Path, labels: dict[str, str]) -> dict[int, float]:
    """fer_requests_total{labels} of each worker, read from that worker's own counter file."""
    counts = {}
    for counter_file in sorted(metrics_dir.glob("counter_*.db")):
        pid = int(counter_file.stem.split("_")[1])
        alone = scratch / f"{pid}-{time.monotonic_ns()}"
        alone.mkdir(parents=True)
        shutil.copy(counter_file, alone)
        registry = CollectorRegistry()
        MultiProcessCollector(registry, path=str(alone))
        counts[pid] = registry.get_sample_value("fer_requests_total", labels) or 0.0
    return counts


def scraped(service: RunningService, name: str, labels: dict[str, str] | None = None) -> float:
    """A sample of /metrics; every call is a new connection, answered by whichever worker accepts it."""
    wanted = name + ("{" + ",".join(f'{k}="{v}"' for k, v in labels.items()) + "}" if labels else "")
    for line in httpx.get(f"{service.base_url}/metrics", timeout=30).text.splitlines():
        if line.rsplit(" ", 1)[0] == wanted:
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def repeat_until(
    action: Callable[[], object], done: Callable[[], bool], timeout: float, what: str, min_runs: int = 1
) -> int:
    """Run action until done() holds (checked after each run, from min_runs on); returns the number of runs."""
    deadline, runs = time.monotonic() + timeout, 0
    while True:
        action()
        runs += 1
        if runs >= min_runs and done():
            return runs
        assert time.monotonic() < deadline, f"{what}: not within {timeout:.0f} s"


def test_metrics_with_two_workers_add_up_every_request(
    tmp_path: Path, astronaut_path: Path, report: Callable[[str], None]
) -> None:
    photo = {"file": ("astronaut.png", astronaut_path.read_bytes(), "image/png")}
    env = {"FER_WORKERS": "2", "FER_ORT_INTRA_OP_THREADS": "1", "TMPDIR": str(tmp_path)}
    with service_process(env) as service, ThreadPoolExecutor(4) as pool:
        [metrics_dir] = tmp_path.glob("fer-metrics-*")

        def send_four() -> None:  # concurrent new connections, so both workers accept some
            responses = pool.map(lambda _: httpx.post(f"{service.base_url}/predict", files=photo, timeout=60), range(4))
            assert [r.status_code for r in responses] == [200] * 4

        def both_served() -> bool:
            return sum(v > 0 for v in per_worker(metrics_dir, tmp_path / "split", PREDICT_200).values()) == 2

        sent = 4 * repeat_until(send_four, both_served, 60, "both workers serving /predict", min_runs=5)
        totals: list[float] = []

        def scrape() -> None:
            totals.append(scraped(service, "fer_requests_total", PREDICT_200))

        def both_scraped() -> bool:
            return sum(v > 0 for v in per_worker(metrics_dir, tmp_path / "split", METRICS_200).values()) == 2

        repeat_until(scrape, both_scraped, 60, "both workers answering /metrics")
        split = per_worker(metrics_dir, tmp_path / "split", PREDICT_200)
        report(f"2 workers: {sent} /predict sent; per worker {split}; /metrics totals seen {totals}")
        assert sum(split.values()) == sent and all(count > 0 for count in split.values())
        assert totals == [sent] * len(totals), "a scrape missed the other worker's requests"
        assert_killed_worker_is_forgotten(service, metrics_dir, min(split), sent)


def assert_killed_worker_is_forgotten(service: RunningService, metrics_dir: Path, victim: int, sent: int) -> None:
    """SIGKILL one worker: uvicorn starts another, its counts stay in the totals, its gauges go."""
    model = httpx.get(f"{service.base_url}/readyz", timeout=10).json()["model"]
    workers_before = {f.stem.rsplit("_", 1)[1] for f in metrics_dir.glob("gauge_livemax_*.db")}
    live_files = sorted(metrics_dir.glob(f"gauge_live*_{victim}.db"))
    assert live_files and len(workers_before) == 2, "each worker sets fer_model_info (a livemax gauge) at start"
    os.kill(victim, signal.SIGKILL)

    def replacement_started() -> bool:  # it sets fer_model_info once its model is loaded
        return any(f.stem.rsplit("_", 1)[1] not in workers_before for f in metrics_dir.glob("gauge_livemax_*.db"))

    repeat_until(lambda: time.sleep(0.2), replacement_started, 90, "uvicorn to start a replacement worker")
    assert scraped(service, "fer_requests_total", PREDICT_200) == sent
    assert not any(f.exists() for f in live_files), "the killed worker's live gauges are still merged"
    assert scraped(service, "fer_model_info", model) == 1
