"""Model throughput: faces/s of the ONNX model at several batch sizes, FLOPs per face, GFLOP/s."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort

from bench.common import r3, time_call
from training.flops import count_macs

BATCH_SIZES = (1, 8, 32, 128)


def open_session(path: Path, threads: int = 0) -> ort.InferenceSession:
    """A CPU session as the service opens it (``threads`` 0: ONNX Runtime uses every core)."""
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def faces_per_second(session: ort.InferenceSession, batch: int, min_seconds: float) -> dict[str, float]:
    """Throughput and time per call for one batch size (random faces: the speed does not depend on them)."""
    name = session.get_inputs()[0].name
    faces = np.random.default_rng(0).random((batch, 48, 48, 1), dtype=np.float32)
    samples = time_call(lambda: session.run(None, {name: faces}), min_seconds=min_seconds)
    median = float(np.median(samples))
    return {"faces_per_s": r3(batch / median), "ms_per_call": r3(1000 * median)}


def bench_model(path: Path, flops_per_face: int, min_seconds: float = 1.5) -> dict[str, Any]:
    """``{"batch": {"1": {...}, ...}}`` with faces/s, ms per call and GFLOP/s for each batch size."""
    session = open_session(path)
    rows = {}
    for batch in BATCH_SIZES:
        row = faces_per_second(session, batch, min_seconds)
        row["gflops_per_s"] = r3(row["faces_per_s"] * flops_per_face / 1e9)
        rows[str(batch)] = row
    return {"file": str(path), "threads": "all cores (ONNX Runtime default)", "batch": rows}


def bench_models(float_path: Path, int8_path: Path | None, min_seconds: float = 1.5) -> dict[str, Any]:
    """The float model and, when there is one, its int8 variant, with the float model's FLOPs for both."""
    macs = count_macs(float_path)
    flops = 2 * macs["total"]
    result: dict[str, Any] = {"macs_per_face": macs, "flops_per_face": flops}
    result["float"] = bench_model(float_path, flops, min_seconds)
    if int8_path is not None and int8_path.is_file():
        result["int8"] = bench_model(int8_path, flops, min_seconds)
    return result
