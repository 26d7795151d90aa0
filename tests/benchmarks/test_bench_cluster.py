"""bench.cluster: docs/cluster.md carries the figures of results/cluster.json, and the tables come from them."""

from __future__ import annotations

from pathlib import Path

from bench import cluster
from bench.common import read_json

DOC = Path(__file__).resolve().parents[2] / "docs" / "cluster.md"


def test_docs_cluster_shows_the_measured_figures() -> None:
    results = read_json(cluster.CLUSTER_JSON)
    assert results, f"{cluster.CLUSTER_JSON} is missing: run python -m bench.cluster"
    assert cluster.figures(results["local"]) in DOC.read_text()


def test_figures_table_has_one_row_per_run() -> None:
    runs = [{"run": "in process", "processes": 1, "seconds": 80.04, "images_per_s": 24.99}]
    machine = {"cpu": "CPU", "cores": 2, "measured_at": "2026-01-01T00:00:00+00:00"}
    results = {"runs": runs, "machine": machine, "images": 2000, "image_bytes": 68000, "ray_start_s": 4.2}
    lines = cluster.figures(results).splitlines()
    assert lines[2] == "| in process | 1 | 80.0 | 25.0 |"
    assert lines[-1].startswith("2000 images of 68 kB; CPU, 2 cores, measured 2026-01-01")
