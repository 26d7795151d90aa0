"""The real image: the project's Dockerfile built by Podman on a local Debian base, then run.

Slow (debootstrap about 50 s, the build about 40 s): marked ``container``, still part of
``make test`` and .ci/run, which installs podman, runc and debootstrap.
"""

from __future__ import annotations

import json
import shlex
import shutil
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager

import httpx
import pytest

from . import _dockerfile as df
from . import _podman as pm
from ._proc import free_port, http_get, wait_until
from .conftest import REPO, binary

pytestmark = [pytest.mark.container, pytest.mark.timeout(1200)]

PHOTO = REPO / "tests/fixtures/photos/astronaut.png"
IMAGE_USER = "10001"
# python:3.11-slim plus the service's wheels (ONNX Runtime, OpenCV, NumPy) is ~570 MB;
# TensorFlow alone would add more than 1 GB, so this bound also catches a training extra.
MAX_IMAGE_BYTES = 800_000_000


@pytest.fixture(scope="session")
def base_image(tmp_path_factory: pytest.TempPathFactory, report: Callable[[str], None]) -> Iterator[str]:
    """Debian bookworm with Python 3.11, imported as a local image (once per test session)."""
    for tool in ("podman", "runc", "debootstrap"):
        binary(tool, "apt-get install podman runc debootstrap (.ci/run does this)")
    work = tmp_path_factory.mktemp("base-image")
    tag = f"localhost/fer-test-base:{pm.SUITE}-{uuid.uuid4().hex[:8]}"
    log = work / "base.log"
    began = time.monotonic()
    pm.make_base_rootfs(work / "rootfs", log)
    pm.import_rootfs(work / "rootfs", tag, log)
    shutil.rmtree(work / "rootfs")  # 130 MB that the imported image now holds
    report(f"local base image (debootstrap {pm.SUITE} + podman import): {time.monotonic() - began:.0f} s")
    yield tag
    pm.podman("rmi", "-f", tag, check=False)


@pytest.fixture(scope="module")
def image(base_image: str, tmp_path_factory: pytest.TempPathFactory, report: Callable[[str], None]) -> Iterator[str]:
    tag = f"localhost/fer-service:test-{uuid.uuid4().hex[:8]}"
    seconds = pm.build(REPO, tag, base_image, tmp_path_factory.mktemp("image-build") / "build.log")
    size = int(pm.inspect(tag, "{{.Size}}", image=True))
    report(f"image build (podman, Dockerfile on the local base): {seconds:.0f} s; image size {size / 1e6:.0f} MB")
    yield tag
    pm.podman("rmi", "-f", tag, check=False)


def serve(image: str, port: int) -> AbstractContextManager[str]:
    """The image as Kubernetes runs it (deploy/k8s): read-only root, a writable /tmp only."""
    env = {"FER_HOST": "127.0.0.1", "FER_PORT": str(port), "FER_LOG_FORMAT": "json"}
    name = f"fer-test-{uuid.uuid4().hex[:8]}"
    return pm.container(image, name, env, "--read-only", "--tmpfs", "/tmp")


def wait_ready(name: str, port: int) -> None:
    def ready() -> bool:
        state = pm.inspect(name, "{{.State.Status}}")
        assert state == "running", f"container {state}:\n{pm.podman('logs', name)[-4000:]}"
        return http_get(f"http://127.0.0.1:{port}/readyz", timeout=2)[0] == 200

    wait_until(ready, 120, "the container's /readyz")


@pytest.fixture(scope="module")
def running(image: str) -> Iterator[tuple[str, str]]:
    """(container name, base URL) of the image serving on the host network."""
    port = free_port()
    with serve(image, port) as name:
        wait_ready(name, port)
        yield name, f"http://127.0.0.1:{port}"


def test_image_serves_a_prediction(running: tuple[str, str]) -> None:
    _name, url = running
    files = {"file": (PHOTO.name, PHOTO.read_bytes(), "image/png")}
    response = httpx.post(f"{url}/predict", files=files, headers={"X-Request-ID": "image-test-1"}, timeout=60)
    assert response.status_code == 200, response.text
    assert response.headers["X-Request-ID"] == "image-test-1"
    [face] = response.json()["faces"]
    assert face["emotion"] == "happy" and abs(sum(face["probabilities"].values()) - 1) < 1e-3


def test_image_runs_as_uid_10001(running: tuple[str, str], image: str) -> None:
    name, _url = running
    assert pm.inspect(image, "{{.Config.User}}", image=True) == f"{IMAGE_USER}:{IMAGE_USER}"
    assert pm.podman("exec", name, "id", "-u") == IMAGE_USER
    # The server itself (PID 1, exec-form CMD), not only an exec'd shell.
    status = pm.podman("exec", name, "cat", "/proc/1/status")
    assert any(line.split()[:2] == ["Uid:", IMAGE_USER] for line in status.splitlines()), status


def test_image_holds_no_tensorflow(running: tuple[str, str]) -> None:
    name, _url = running
    probe = "import importlib.util as u, json; print(json.dumps([m for m in {} if u.find_spec(m)]))"
    found = pm.podman("exec", name, "python", "-c", probe.format(["tensorflow", "keras", "tf2onnx", "tensorboard"]))
    assert json.loads(found) == []
    assert json.loads(pm.podman("exec", name, "python", "-c", probe.format(["onnxruntime", "cv2"]))) == [
        "onnxruntime",
        "cv2",
    ]


def test_image_healthcheck_passes(running: tuple[str, str], image: str) -> None:
    name, _url = running
    check = json.loads(pm.inspect(image, "{{json .Config.Healthcheck}}", image=True))
    assert check["Test"][0] == "CMD" and "/readyz" in " ".join(check["Test"])
    pm.podman("exec", name, *check["Test"][1:])  # raises on a non-zero exit


def test_image_size_stays_small(image: str) -> None:
    size = int(pm.inspect(image, "{{.Size}}", image=True))
    assert size < MAX_IMAGE_BYTES, f"{size / 1e6:.0f} MB"


def test_image_matches_the_dockerfile_contract(image: str) -> None:
    runtime = df.parse((REPO / "Dockerfile").read_text())[-1]
    env = dict(item.split("=", 1) for item in json.loads(pm.inspect(image, "{{json .Config.Env}}", image=True)))
    assert env["FER_PORT"] == df.stage_env(runtime)["FER_PORT"]
    cmd = json.loads(pm.inspect(image, "{{json .Config.Cmd}}", image=True))
    assert cmd == runtime.last("CMD").exec_form(), shlex.join(cmd)


def test_image_exits_0_on_sigterm(image: str) -> None:
    """``podman stop`` sends SIGTERM (as Kubernetes does): the server drains and exits 0."""
    port = free_port()
    with serve(image, port) as name:
        wait_ready(name, port)
        pm.podman("stop", "-t", "30", name, timeout=60)
        assert pm.inspect(name, "{{.State.ExitCode}}") == "0", pm.podman("logs", name)[-4000:]
