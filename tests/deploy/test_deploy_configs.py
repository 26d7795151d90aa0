"""docker-compose.yml, Prometheus and Grafana files: they parse and agree with each other."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
import yaml

from . import _dockerfile as df
from .conftest import REPO, binary

PROMETHEUS_YML = REPO / "docker/prometheus/prometheus.yml"
GRAFANA = REPO / "docker/grafana"
DASHBOARD = GRAFANA / "dashboards/fer.json"


def load_yaml(path: Path) -> dict:
    data = yaml.safe_load(path.read_text())
    assert isinstance(data, dict), f"{path} is not a YAML mapping"
    return data


@pytest.fixture(scope="module")
def compose() -> dict:
    return load_yaml(REPO / "docker-compose.yml")


def mounts(service: dict) -> dict[str, str]:
    """container path -> host path of a compose service's bind mounts."""
    out = {}
    for volume in service.get("volumes", []):
        host, container = volume.split(":")[:2]
        if host.startswith("."):
            out[container] = host
    return out


def test_compose_services_and_ports(compose: dict) -> None:
    services = compose["services"]
    assert {"fer", "prometheus", "grafana"} <= services.keys()
    expected = {"fer": "8000:8000", "prometheus": "9090:9090", "grafana": "3000:3000"}
    for name, port in expected.items():
        assert port in services[name]["ports"], f"{name} must publish {port}"
    assert services["fer"]["build"] in (".", {"context": "."}), "the service image is built from ./Dockerfile"
    for name, service in services.items():
        for container, host in mounts(service).items():
            assert (REPO / host).exists(), f"{name}: bind mount {host} -> {container} does not exist"


def test_prometheus_config_is_valid() -> None:
    promtool = binary("promtool", "apt-get install prometheus (.ci/run does this)")
    result = subprocess.run([promtool, "check", "config", str(PROMETHEUS_YML)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_prometheus_scrapes_the_compose_service(compose: dict) -> None:
    config = load_yaml(PROMETHEUS_YML)
    job = next(j for j in config["scrape_configs"] if j["job_name"] == "fer")
    assert job.get("metrics_path", "/metrics") == "/metrics"
    [target] = [t for group in job["static_configs"] for t in group["targets"]]
    host, port = target.split(":")
    port_in_image = df.stage_env(df.parse((REPO / "Dockerfile").read_text())[-1])["FER_PORT"]
    assert host in compose["services"] and port == port_in_image, f"{target} is not the compose fer service"
    prometheus = compose["services"]["prometheus"]
    assert mounts(prometheus).get("/etc/prometheus/prometheus.yml") == "./docker/prometheus/prometheus.yml"


def test_grafana_provisioning_matches_compose(compose: dict) -> None:
    grafana = mounts(compose["services"]["grafana"])
    assert grafana.get("/etc/grafana/provisioning") == "./docker/grafana/provisioning"

    [datasource] = load_yaml(GRAFANA / "provisioning/datasources/prometheus.yml")["datasources"]
    assert datasource["type"] == "prometheus"
    assert datasource["url"].split("//")[1].split(":")[0] in compose["services"]

    providers = [p for f in (GRAFANA / "provisioning/dashboards").glob("*.yml") for p in load_yaml(f)["providers"]]
    [path] = [p["options"]["path"] for p in providers]
    assert Path(grafana[path]) == Path("./docker/grafana/dashboards"), "dashboards dir not mounted where provisioned"

    # Every panel and query uses the provisioned data source, by its fixed uid.
    dashboard = json.loads(DASHBOARD.read_text())
    refs = [p["datasource"] for p in panels(dashboard)] + [t["datasource"] for t in targets(dashboard)]
    assert all(r == {"type": "prometheus", "uid": datasource["uid"]} for r in refs)


def panels(dashboard: dict) -> list[dict]:
    """All panels, including those nested in collapsed rows."""
    out = []
    for panel in dashboard["panels"]:
        out.append(panel)
        out.extend(panel.get("panels", []))
    return out


def targets(dashboard: dict) -> list[dict]:
    return [t for p in panels(dashboard) for t in p.get("targets", [])]


def test_dashboard_has_the_required_panels() -> None:
    exprs = " ".join(t["expr"] for t in targets(json.loads(DASHBOARD.read_text())))
    assert "rate(fer_requests_total" in exprs, "request rate"
    for q in ("0.5", "0.95", "0.99"):
        assert f"histogram_quantile({q}, sum by (le) (rate(fer_request_duration_seconds_bucket" in exprs
    for metric in ("fer_inference_batch_size", "fer_queue_depth", "fer_faces_detected_total"):
        assert metric in exprs
    assert "sum by (emotion)" in exprs and "fer_predictions_total" in exprs, "emotion mix"
