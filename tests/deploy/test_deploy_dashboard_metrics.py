"""Every fer_* metric the Grafana dashboard queries is one the service exports."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from service.app import create_app
from service.settings import Settings

from .conftest import REPO

DASHBOARD = REPO / "docker/grafana/dashboards/fer.json"
PHOTO = REPO / "tests/fixtures/photos/astronaut.png"
# Series a metric family of each type is exposed as (OpenMetrics naming in prometheus_client).
SERIES_SUFFIXES = {
    "counter": ("_total",),
    "gauge": ("",),
    "histogram": ("_bucket", "_sum", "_count"),
    "summary": ("", "_sum", "_count"),
    "info": ("_info",),
    "unknown": ("",),
}


def dashboard_metric_names() -> set[str]:
    """fer_* names in every panel query and template variable query."""
    dashboard = json.loads(DASHBOARD.read_text())
    texts = [t["expr"] for p in dashboard["panels"] for t in p.get("targets", [])]
    texts += [json.dumps(v.get("query", "")) for v in dashboard.get("templating", {}).get("list", [])]
    return {name for text in texts for name in re.findall(r"\bfer_[a-zA-Z0-9_]+", text)}


def family_types(exposition: str) -> dict[str, str]:
    return {family.name: family.type for family in text_string_to_metric_families(exposition)}


def series_family(name: str, types: dict[str, str]) -> tuple[str, str] | None:
    """(family, type) that exposes the series name, e.g. fer_x_bucket -> (fer_x, histogram)."""
    for family, kind in types.items():
        if any(name == family + suffix for suffix in SERIES_SUFFIXES.get(kind, ("",))):
            return family, kind
    return None


@pytest.fixture(scope="module")
def exposition(model_store: Path) -> str:
    """/metrics of an in-process app after a health check and a prediction on a real face."""
    app = create_app(Settings(model_store=model_store))
    with TestClient(app) as client:
        assert client.get("/healthz").status_code == 200
        response = client.post("/predict", files={"file": (PHOTO.name, PHOTO.read_bytes(), "image/png")})
        assert response.status_code == 200, response.text
        return client.get("/metrics").text


def test_every_dashboard_metric_is_exported(exposition: str) -> None:
    names = dashboard_metric_names()
    assert len(names) >= 8, names
    types = family_types(exposition)
    missing = sorted(n for n in names if series_family(n, types) is None)
    assert not missing, f"dashboard queries metrics the service does not export: {missing}"
    # Quantile and mean panels need real histograms behind their _bucket/_sum/_count series.
    for name in names:
        if name.endswith(("_bucket", "_sum", "_count")):
            assert series_family(name, types)[1] == "histogram", name


def test_the_request_produced_samples(exposition: str) -> None:
    emitted = {s.name for family in text_string_to_metric_families(exposition) for s in family.samples}
    for name in ("fer_requests_total", "fer_request_duration_seconds_bucket", "fer_faces_detected_total"):
        assert name in emitted, f"{name} has no samples after a request"
