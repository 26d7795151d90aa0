"""A real Prometheus, run with the project's prometheus.yml pointed at loopback, scrapes a
real service process; the dashboard's queries then run against what it scraped."""

from __future__ import annotations

import json
import re
import sys
import time
import urllib.parse
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from ._proc import clean_env, free_port, http_get, running, wait_until
from .conftest import REPO, binary

PHOTO = REPO / "tests/fixtures/photos/astronaut.png"  # one clear frontal face


@pytest.fixture(scope="module")
def service_url(model_store: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`python -m service` (uvicorn) on a free port, serving the newest committed model."""
    port = free_port()
    env = clean_env(FER_HOST="127.0.0.1", FER_PORT=str(port), FER_MODEL_STORE=str(model_store), FER_WORKERS="1")
    log = tmp_path_factory.mktemp("service") / "service.log"
    url = f"http://127.0.0.1:{port}"
    with running([sys.executable, "-m", "service"], env=env, cwd=REPO, log=log, ready_url=f"{url}/readyz"):
        yield url


def loopback_config(target: str) -> dict:
    """docker/prometheus/prometheus.yml with the fer job aimed at target, scraped every second."""
    config = yaml.safe_load((REPO / "docker/prometheus/prometheus.yml").read_text())
    config["global"]["scrape_interval"] = "1s"
    config["global"]["scrape_timeout"] = "1s"
    jobs = [job for job in config["scrape_configs"] if job["job_name"] == "fer"]
    assert jobs, "prometheus.yml has no job named fer"
    jobs[0]["static_configs"] = [{"targets": [target]}]
    config["scrape_configs"] = jobs  # the self-scrape job points at the compose address
    return config


@pytest.fixture(scope="module")
def prometheus_url(service_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    prometheus = binary("prometheus", "apt-get install prometheus (.ci/run does this)")
    work = tmp_path_factory.mktemp("prometheus")
    config = work / "prometheus.yml"
    config.write_text(yaml.safe_dump(loopback_config(service_url.removeprefix("http://"))))
    port = free_port()
    argv = [
        prometheus,
        f"--config.file={config}",
        f"--storage.tsdb.path={work / 'data'}",
        f"--web.listen-address=127.0.0.1:{port}",
        "--log.level=warn",
    ]
    url = f"http://127.0.0.1:{port}"
    with running(argv, env=clean_env(), cwd=work, log=work / "prometheus.log", ready_url=f"{url}/-/ready"):
        yield url


def query(prometheus_url: str, promql: str) -> dict:
    status, body = http_get(f"{prometheus_url}/api/v1/query?{urllib.parse.urlencode({'query': promql})}")
    answer = json.loads(body or b"{}")
    assert status == 200 and answer.get("status") == "success", f"{promql}: {status} {body[:500]!r}"
    return answer["data"]


def series_values(samples: list[dict]) -> dict[tuple, float]:
    return {tuple(sorted(s["metric"].items())): float(s["value"][1]) for s in samples}


def test_prometheus_scrapes_the_request_counter(service_url: str, prometheus_url: str) -> None:
    with httpx.Client(base_url=service_url, timeout=30) as client:
        for _ in range(3):
            assert client.get("/healthz").status_code == 200
            files = {"file": (PHOTO.name, PHOTO.read_bytes(), "image/png")}
            assert client.post("/predict", files=files).status_code == 200
        exported = client.get("/metrics").text

    # What the service itself says it counted so far...
    expected = {
        tuple(sorted({**s.labels, "job": "fer"}.items())): s.value
        for family in text_string_to_metric_families(exported)
        for s in family.samples
        if s.name == "fer_requests_total"
    }
    assert expected, "the service exports no fer_requests_total samples"

    # ...must show up in Prometheus (counters only grow, so >= once a later scrape landed).
    def scraped() -> bool:
        got = series_values(query(prometheus_url, 'fer_requests_total{job="fer"}')["result"])
        got = {tuple((k, v) for k, v in key if k not in {"instance", "__name__"}): value for key, value in got.items()}
        return all(got.get(key, -1) >= value for key, value in expected.items())

    wait_until(scraped, 30, "Prometheus to scrape fer_requests_total")
    result = query(prometheus_url, "fer_requests_total")["result"]
    assert {"endpoint", "status"} <= result[0]["metric"].keys()


def grafana_to_promql(expr: str) -> str:
    """Substitute the Grafana variables the dashboard uses with fixed values."""
    for variable, value in {"$__rate_interval": "30s", "$__range": "5m", "$endpoint": ".*"}.items():
        expr = expr.replace(variable, value)
    assert "$" not in expr, f"unsubstituted Grafana variable in {expr}"
    return expr


def test_dashboard_queries_run_on_prometheus(prometheus_url: str) -> None:
    dashboard = json.loads((REPO / "docker/grafana/dashboards/fer.json").read_text())
    exprs = [t["expr"] for p in dashboard["panels"] for t in p.get("targets", [])]
    for expr in exprs:  # a PromQL syntax error answers 400, which query() reports
        query(prometheus_url, grafana_to_promql(expr))

    # The latency panel has data once two scrapes of the request histogram are in the window.
    latency = next(e for e in exprs if re.search(r"histogram_quantile\(0\.95, .*fer_request_duration", e))
    deadline = time.monotonic() + 20
    while not (result := query(prometheus_url, grafana_to_promql(latency))["result"]) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert result, f"no data for {latency}"
