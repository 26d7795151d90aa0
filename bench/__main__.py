"""``python -m bench``: model, pipeline and service benchmarks into bench.json (see bench.common for where).

    python -m bench                          # everything (about 2 minutes)
    python -m bench --parts service          # re-run one part, keeping the others' results
    BENCH_RECORD=1 python -m bench --note "training was still running"   # into results/ and docs/benchmarks.md
                                             # (and, with the compare part, the README's model table)

The int8 columns time the variant ``python -m training.quantize`` made of the served float model.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from bench.common import MODEL_STORE, REPO_ROOT, machine_info, output, read_json, recording, update_json
from bench.compare import compare, float_source
from bench.default_model import current_default, update_readme
from bench.model import bench_models
from bench.pipeline import stage_times
from bench.report import targets, update_page
from bench.service_bench import bench_service
from service.model_store import resolve_model_dir
from service.settings import Settings
from training.quantize import RESULTS_FILE, quantize_key

PARTS = ("compare", "model", "pipeline", "service")


def quantization_of(float_dir: Path) -> dict[str, Any]:
    """training.quantize's entry for this float model, or {} if it was never quantized."""
    return read_json(REPO_ROOT / RESULTS_FILE).get(quantize_key(float_dir), {})


def int8_model(float_dir: Path) -> Path | None:
    """The int8 file made from this float model by training.quantize (shipped or not), if any."""
    quantized = quantization_of(float_dir)
    if not quantized:
        return None
    shipped = quantized.get("model_dir")
    path = REPO_ROOT / (f"{shipped}/model.onnx" if shipped else quantized["int8_file"])
    return path if path.is_file() else None


def served_float_model() -> Path:
    """The float model behind what the service serves with its default settings (itself, unless int8)."""
    settings = Settings()
    return float_source(resolve_model_dir(MODEL_STORE, settings.model_name, settings.model_version))


def run_model(float_dir: Path, min_seconds: float) -> dict[str, Any]:
    result = bench_models(float_dir / "model.onnx", int8_model(float_dir), min_seconds)
    quantized = quantization_of(float_dir)
    if quantized:
        result["quantization"] = {k: v for k, v in quantized.items() if k != "int8_metrics"}
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--parts", default=",".join(PARTS), help=f"comma-separated subset of {','.join(PARTS)}")
    parser.add_argument("--seconds", type=float, default=8.0, help="measured seconds per HTTP/stream run")
    parser.add_argument("--warmup", type=float, default=2.0, help="unmeasured seconds before each run")
    parser.add_argument("--ort-threads", default="1", help="FER_ORT_INTRA_OP_THREADS of the benchmarked server")
    parser.add_argument("--note", default="", help="recorded with the results, e.g. why a model was used")
    parser.add_argument("--quick", action="store_true", help="tiny durations: checks that everything runs")
    args = parser.parse_args()
    # Per timing loop: the model's batch sizes, then each pipeline stage.
    model_s, stage_s = (0.1, 0.05) if args.quick else (1.5, 1.0)
    if args.quick:
        args.seconds, args.warmup = 0.5, 0.2
    parts = set(args.parts.split(","))
    float_dir = served_float_model()
    model = f"{float_dir.parent.name} {float_dir.name}"
    results = output("bench.json")
    update_json(results, "machine", {**machine_info(), "model": model, "note": args.note})
    if "compare" in parts:
        update_json(results, "compare", compare(min_seconds=model_s))
    if "model" in parts:
        update_json(results, "model", run_model(float_dir, model_s))
    if "pipeline" in parts:
        update_json(results, "pipeline", stage_times(float_dir, stage_s))
    if "service" in parts:
        limit = read_json(results)["pipeline"]["cpu_limit_rps"]
        env = {"FER_ORT_INTRA_OP_THREADS": args.ort_threads}
        update_json(results, "service", bench_service(env, limit, args.seconds, args.warmup))
    update_json(results, "targets", targets(read_json(results)))
    if recording():
        update_page()
        if "compare" in parts:
            update_readme(current_default())
    print(f"results in {results.relative_to(REPO_ROOT)}")


if __name__ == "__main__":
    main()
