"""deploy/k8s: the kustomize layout renders, validates against the Kubernetes schemas in strict
mode (kubernetes-validate, offline), and agrees with the service (routes, port, threads, metrics)."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from service.app import create_app
from service.metrics import Metrics
from service.settings import Settings

from . import _dockerfile as df
from .conftest import REPO, binary

K8S = REPO / "deploy/k8s"
OVERLAYS = ["overlays/hpa", "overlays/keda"]
EXAMPLES = sorted((K8S / "examples").glob("*.yaml"))
# The oldest Kubernetes still widely run, and the newest kubernetes-validate knows.
KUBERNETES_VERSIONS = ["1.30.0", kubernetes_validate.latest_version() + ".0"]
# Custom resources have no bundled schema; each is checked by the assertions below instead.
CUSTOM_KINDS = {"ScaledObject"}


def render(directory: Path) -> list[dict[str, Any]]:
    """``kustomize build`` for the fields this layout uses: resources (files, directories), namespace."""
    config = yaml.safe_load((directory / "kustomization.yaml").read_text())
    unknown = set(config) - {"apiVersion", "kind", "namespace", "resources"}
    assert not unknown, f"{directory}: this test does not render {sorted(unknown)}"
    documents: list[dict[str, Any]] = []
    for entry in config["resources"]:
        path = (directory / entry).resolve()
        documents += render(path) if path.is_dir() else [d for d in yaml.safe_load_all(path.read_text()) if d]
    for document in documents:
        if "namespace" in config and document["kind"] != "Namespace":
            document["metadata"]["namespace"] = config["namespace"]
    return documents


def one(documents: list[dict[str, Any]], kind: str) -> dict[str, Any]:
    [found] = [d for d in documents if d["kind"] == kind]
    return found


@pytest.fixture(scope="module", params=OVERLAYS)
def manifests(request: pytest.FixtureRequest) -> list[dict[str, Any]]:
    return render(K8S / request.param)


@pytest.fixture(scope="module")
def container() -> dict[str, Any]:
    [only] = one(render(K8S / "base"), "Deployment")["spec"]["template"]["spec"]["containers"]
    return only


def env_of(container: dict[str, Any]) -> dict[str, str]:
    return {item["name"]: item["value"] for item in container["env"]}


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
def test_k8s_manifests_validate_in_strict_mode(manifests: list[dict[str, Any]], version: str) -> None:
    for document in manifests:
        if document["kind"] in CUSTOM_KINDS:
            continue
        try:
            kubernetes_validate.validate(document, version, strict=True)
        except kubernetes_validate.ValidationError as error:
            path = ".".join(str(p) for p in error.path)
            pytest.fail(f"{document['kind']}/{document['metadata']['name']}: {path}: {error.message}")
    kinds = {d["kind"] for d in manifests}
    assert {"Namespace", "Deployment", "Service", "PodDisruptionBudget", "ConfigMap"} <= kinds
    assert len(kinds & {"HorizontalPodAutoscaler", "ScaledObject"}) == 1, "exactly one autoscaler per overlay"


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.name)
def test_k8s_examples_validate_in_strict_mode(example: Path) -> None:
    for document in yaml.safe_load_all(example.read_text()):
        kubernetes_validate.validate(document, KUBERNETES_VERSIONS[0], strict=True)


def test_k8s_probes_name_real_routes(container: dict[str, Any]) -> None:
    get_routes = {path for path, methods in create_app(Settings()).openapi()["paths"].items() if "get" in methods}
    ports = {port["name"] for port in container["ports"]}
    expected = {"startupProbe": "/readyz", "readinessProbe": "/readyz", "livenessProbe": "/healthz"}
    for probe, path in expected.items():
        action = container[probe]["httpGet"]
        assert action["path"] == path and path in get_routes, f"{probe}: {action['path']}"
        assert action["port"] in ports, f"{probe}: port {action['port']} is not a container port"
    # The start-up probe must outlast a slow model load before liveness may restart the pod.
    startup = container["startupProbe"]
    assert startup["periodSeconds"] * startup["failureThreshold"] >= 60


def test_k8s_ports_match_the_settings(container: dict[str, Any]) -> None:
    [port] = container["ports"]
    image_env = df.stage_env(df.parse((REPO / "Dockerfile").read_text())[-1])
    assert port["containerPort"] == int(env_of(container)["FER_PORT"]) == int(image_env["FER_PORT"])
    assert port["containerPort"] == Settings(port=int(env_of(container)["FER_PORT"])).port
    assert env_of(container)["FER_HOST"] == "0.0.0.0", "the pod must listen beyond loopback"
    base = render(K8S / "base")
    service = one(base, "Service")
    assert [p["targetPort"] for p in service["spec"]["ports"]] == [port["name"]]
    annotations = one(base, "Deployment")["spec"]["template"]["metadata"]["annotations"]
    assert annotations["prometheus.io/port"] == str(port["containerPort"])


def test_k8s_cpu_matches_the_onnx_runtime_threads(container: dict[str, Any]) -> None:
    env = env_of(container)
    threads = int(env["FER_ORT_INTRA_OP_THREADS"]) * int(env["FER_WORKERS"])
    resources = container["resources"]
    assert resources["requests"]["cpu"] == resources["limits"]["cpu"] == str(threads)
    assert env["OMP_NUM_THREADS"] == env["FER_ORT_INTRA_OP_THREADS"]
    Settings(**{k.removeprefix("FER_").lower(): v for k, v in env.items() if k.startswith("FER_")})  # valid


def test_k8s_pods_run_as_non_root_on_a_read_only_root(container: dict[str, Any]) -> None:
    pod = one(render(K8S / "base"), "Deployment")["spec"]["template"]["spec"]
    image_user = df.parse((REPO / "Dockerfile").read_text())[-1].last("USER")
    assert image_user is not None
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert f"{pod['securityContext']['runAsUser']}:{pod['securityContext']['runAsGroup']}" == image_user.args
    security = container["securityContext"]
    assert security["readOnlyRootFilesystem"] is True and security["allowPrivilegeEscalation"] is False
    mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert "emptyDir" in volumes[mounts["/tmp"]], "uploads and multiprocess metrics need a writable /tmp"


def test_k8s_sigterm_drains_within_the_grace_period(container: dict[str, Any]) -> None:
    pod = one(render(K8S / "base"), "Deployment")["spec"]["template"]["spec"]
    command = container["lifecycle"]["preStop"]["exec"]["command"]
    assert command[0] == "sleep"
    drain = int(env_of(container)["FER_GRACEFUL_SHUTDOWN_S"])
    assert int(command[1]) + drain < pod["terminationGracePeriodSeconds"]


def exported_metric_names() -> set[str]:
    """Family names the service exports, with the series suffixes of counters and histograms."""
    names = set()
    for family in Metrics().registry.collect():
        suffixes = {"counter": ["_total"], "histogram": ["_bucket", "_sum", "_count"]}.get(family.type, [""])
        names |= {family.name + suffix for suffix in suffixes}
    return names


def scrape_job(base: list[dict[str, Any]]) -> dict[str, Any]:
    config = yaml.safe_load(one(base, "ConfigMap")["data"]["prometheus.yml"])
    [job] = config["scrape_configs"]
    return job


def test_k8s_autoscalers_read_what_the_service_exports() -> None:
    base = render(K8S / "base")
    deployment = one(base, "Deployment")
    hpa = one(render(K8S / "overlays/hpa"), "HorizontalPodAutoscaler")
    keda = one(render(K8S / "overlays/keda"), "ScaledObject")
    for target in (hpa["spec"]["scaleTargetRef"], keda["spec"]["scaleTargetRef"]):
        assert (target["kind"], target["name"]) == ("Deployment", deployment["metadata"]["name"])
    assert [m["resource"]["name"] for m in hpa["spec"]["metrics"]] == ["cpu"]
    assert keda["apiVersion"] == "keda.sh/v1alpha1"
    [trigger] = keda["spec"]["triggers"]
    assert trigger["type"] == "prometheus" and float(trigger["metadata"]["threshold"]) > 0
    query = trigger["metadata"]["query"]
    used = set(re.findall(r"\bfer_\w+", query))
    assert used and used <= exported_metric_names(), f"{query} reads metrics the service does not export"
    assert f'job="{scrape_job(base)["job_name"]}"' in query and 'namespace="fer"' in query
    pdb = one(base, "PodDisruptionBudget")
    for min_replicas in (hpa["spec"]["minReplicas"], keda["spec"]["minReplicaCount"]):
        assert pdb["spec"]["maxUnavailable"] < min_replicas, "a drain must leave a pod serving"


def test_k8s_selectors_match_the_pods() -> None:
    base = render(K8S / "base")
    deployment = one(base, "Deployment")
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert deployment["spec"]["selector"]["matchLabels"].items() <= labels.items()
    assert one(base, "Service")["spec"]["selector"].items() <= labels.items()
    assert one(base, "PodDisruptionBudget")["spec"]["selector"]["matchLabels"].items() <= labels.items()
    keep = [r for r in scrape_job(base)["relabel_configs"] if r.get("action") == "keep"]
    by_source = {r["source_labels"][0]: r["regex"] for r in keep}
    assert by_source["__meta_kubernetes_pod_label_app_kubernetes_io_name"] == labels["app.kubernetes.io/name"]
    assert by_source["__meta_kubernetes_pod_container_port_name"] == "http"


def test_k8s_prometheus_scrape_config_is_valid(tmp_path: Path) -> None:
    """promtool checks the job with its pod discovery swapped for a static target: Debian's
    Prometheus is built without Kubernetes discovery, so that part is checked field by field."""
    promtool = binary("promtool", "apt-get install prometheus (.ci/run does this)")
    config = yaml.safe_load(one(render(K8S / "base"), "ConfigMap")["data"]["prometheus.yml"])
    [job] = config["scrape_configs"]
    [discovery] = job.pop("kubernetes_sd_configs")
    assert discovery == {"role": "pod", "namespaces": {"names": ["fer"]}}
    job["static_configs"] = [{"targets": ["fer-service.fer.svc:80"]}]
    path = tmp_path / "prometheus.yml"
    path.write_text(yaml.safe_dump(config))
    result = subprocess.run([promtool, "check", "config", str(path)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
