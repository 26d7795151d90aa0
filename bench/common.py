"""Shared pieces of the benchmarks: paths, the test frame, timing loops, percentiles, results files.

A benchmark measures and leaves the checkout as it was: its results files go to build/bench/results/
(git-ignored) unless the run records its figures (``BENCH_RECORD=1``, as ``make bench RECORD=1``
sets): then into the committed results/ files, and the docs pages built from them are regenerated.
"""

from __future__ import annotations

import json
import os
import platform
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import cv2
import numpy as np

REPO_ROOT = Path(__file__).resolve().parents[1]
MODEL_STORE = REPO_ROOT / "model_store"
RESULTS = REPO_ROOT / "results"  # the committed figures the docs quote
BENCH_JSON = RESULTS / "bench.json"
LOAD_JSON = RESULTS / "load.json"
BUILD = REPO_ROOT / "build" / "bench"  # git-ignored: server logs, generated media
ASTRONAUT = REPO_ROOT / "tests" / "fixtures" / "photos" / "astronaut.png"
DATA = REPO_ROOT / "data" / "processed" / "fer2013.npz"


def frame_640x480(quality: int = 90) -> bytes:
    """A 640x480 JPEG with one face (~90 px): the astronaut photo scaled to 480 px, edges mirrored."""
    photo = cv2.imread(str(ASTRONAUT))
    assert photo is not None, f"cannot read {ASTRONAUT}"
    photo = cv2.resize(photo, (480, 480), interpolation=cv2.INTER_AREA)
    frame = cv2.copyMakeBorder(photo, 0, 0, 80, 80, cv2.BORDER_REFLECT)
    ok, jpeg = cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, quality])
    assert ok and frame.shape[:2] == (480, 640)
    return jpeg.tobytes()


def time_call(fn: Callable[[], object], min_seconds: float = 1.0, min_runs: int = 20, warmup: int = 3) -> list[float]:
    """Seconds per call of ``fn``: at least ``min_runs`` runs and ``min_seconds`` in all, after a warm-up."""
    for _ in range(warmup):
        fn()
    samples: list[float] = []
    began = time.perf_counter()
    while len(samples) < min_runs or time.perf_counter() - began < min_seconds:
        start = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - start)
    return samples


def percentiles_ms(seconds: Sequence[float]) -> dict[str, float]:
    """p50/p95/p99 and mean of latencies given in seconds, in milliseconds."""
    if not seconds:
        return {"p50_ms": float("nan"), "p95_ms": float("nan"), "p99_ms": float("nan"), "mean_ms": float("nan")}
    values = np.asarray(seconds) * 1000
    p50, p95, p99 = np.percentile(values, [50, 95, 99])
    return {"p50_ms": r3(p50), "p95_ms": r3(p95), "p99_ms": r3(p99), "mean_ms": r3(values.mean())}


def r3(value: float) -> float:
    return round(float(value), 3)


def machine_info() -> dict[str, Any]:
    """What the numbers were measured on; the CPU count is the one the process may use."""
    import onnxruntime as ort

    return {
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "cpu": _cpu_model(),
        "cores": len(os.sched_getaffinity(0)),
        "python": platform.python_version(),
        "onnxruntime": ort.__version__,
        "opencv": cv2.__version__,
    }


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def recording() -> bool:
    """Whether this run records its figures into results/ and the docs (``BENCH_RECORD=1``)."""
    return os.environ.get("BENCH_RECORD") == "1"


def output(name: str) -> Path:
    """Where this run writes the results file ``name``: results/ when recording, else build/bench/results/."""
    folder = RESULTS if recording() else BUILD / "results"
    folder.mkdir(parents=True, exist_ok=True)
    return folder / name


def read_json(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text()) if path.is_file() else {}


def update_json(path: Path, section: str, value: Any) -> None:
    """Replace one top-level section of a results file, keeping the others (parts can be re-run)."""
    data = read_json(path)
    data[section] = value
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2) + "\n")
