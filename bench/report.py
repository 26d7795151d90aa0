"""Targets and the "## Results" section of docs/benchmarks.md, generated from results/bench.json and results/load.json.

python -m bench.report        # rewrite only the body of "## Results" in docs/benchmarks.md
"""

from __future__ import annotations

import re
from typing import Any

from bench import tables
from bench.common import BENCH_JSON, LOAD_JSON, REPO_ROOT, read_json

PAGE = REPO_ROOT / "docs" / "benchmarks.md"
HEADING = "## Results"


def _predict_row(bench: dict[str, Any], batching: str, concurrency: int) -> dict[str, Any] | None:
    rows = bench.get("service", {}).get("predict", [])
    return next((r for r in rows if r["batching"] == batching and r["concurrency"] == concurrency), None)


def _stream_row(bench: dict[str, Any], streams: int) -> dict[str, Any] | None:
    return next((r for r in bench.get("service", {}).get("stream", []) if r["streams"] == streams), None)


def targets(bench: dict[str, Any]) -> list[dict[str, Any]]:
    """Each target of the issue with the measured value and whether it is met (None: not measured)."""
    detect = bench.get("pipeline", {}).get("detect_latency_ms")
    predict = _predict_row(bench, "on", 32)
    stream = _stream_row(bench, 1)
    limit = bench.get("pipeline", {}).get("cpu_limit_rps")
    return [
        _target("Haar detection latency, 640x480 frame", "<= 10 ms", detect, "ms", detect is not None and detect <= 10),
        _target(
            "/predict req/s at concurrency 32 vs CPU limit",
            ">= 70 %",
            predict and round(100 * predict["of_cpu_limit"], 1),
            f"% ({predict and predict['rps']} of {limit} req/s)",
            predict is not None and predict["of_cpu_limit"] >= 0.7,
        ),
        _target("one /stream client, frames/s", ">= 30", stream and stream["fps_total"], "frames/s",
                stream is not None and stream["fps_total"] >= 30),
        _target("one /stream client, p95 latency", "< 50 ms", stream and stream["round_trip"]["p95_ms"], "ms",
                stream is not None and stream["round_trip"]["p95_ms"] < 50),
    ]  # fmt: skip


def _target(name: str, goal: str, value: Any, unit: str, met: bool) -> dict[str, Any]:
    return {"target": name, "goal": goal, "measured": value, "unit": unit, "met": met if value is not None else None}


def section(bench: dict[str, Any], load: dict[str, Any]) -> str:
    """The markdown body of the Benchmarks section."""
    machine = bench.get("machine", {})
    parts = [
        f"Measured on {machine.get('cores', '?')} cores of an {machine.get('cpu', '?')} "
        f"({machine.get('measured_at', '?')}), model {machine.get('model', '?')}, ONNX Runtime "
        f"{machine.get('onnxruntime', '?')}, OpenCV {machine.get('opencv', '?')}. "
        "Load generator and server share those cores."
        + (f" **Note:** {machine['note']}" if machine.get("note") else ""),
        "```bash\nmake bench RECORD=1             # python -m bench: results/bench.json + this section\n"
        "make bench SUITE=load RECORD=1  # python -m bench.load: 5 min at capacity + overload, results/load.json\n"
        "make test SUITE=fuzz            # longer schemathesis + hypothesis runs of tests/hardening\n```",
        "**Targets**\n\n" + tables.targets_table(bench.get("targets", []), load),
        tables.comparison_table(bench.get("compare")),
        tables.model_tables(bench.get("model")),
        tables.pipeline_tables(bench.get("pipeline")),
        tables.service_tables(bench.get("service")),
        tables.load_tables(load),
        tables.HARDENING,
    ]
    return "\n\n".join(p for p in parts if p) + "\n"


def update_page() -> None:
    """Replace the body of the page's "## Results" (up to the next "## " heading) with :func:`section`."""
    text = PAGE.read_text()
    pattern = re.compile(rf"^{re.escape(HEADING)}\n.*?(?=^## |\Z)", re.S | re.M)
    body = f"{HEADING}\n\n{section(read_json(BENCH_JSON), read_json(LOAD_JSON))}"
    if not pattern.search(text):
        raise SystemExit(f"{PAGE} has no {HEADING!r} heading")
    # A blank line before the heading that follows, if any.
    after = pattern.sub(lambda m: body + ("\n" if m.end() < len(text) else ""), text, count=1)
    PAGE.write_text(after if after.endswith("\n") else after + "\n")


if __name__ == "__main__":
    update_page()
