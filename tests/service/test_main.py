"""``python -m service``: one-line errors and a non-zero exit for bad setups; serves otherwise."""

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

from bench.common import BUILD
from bench.server import service_process

REPO_ROOT = Path(__file__).resolve().parents[2]


def run_service(env: dict[str, str], timeout: float = 60) -> subprocess.CompletedProcess[str]:
    full_env = {**{k: v for k, v in os.environ.items() if not k.startswith("FER_")}, **env}
    return subprocess.run(
        [sys.executable, "-m", "service"], cwd=REPO_ROOT, env=full_env, capture_output=True, text=True, timeout=timeout
    )


def assert_one_line_failure(result: subprocess.CompletedProcess[str], *needles: str) -> None:
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr
    assert lines[0].startswith("fer-service: cannot start:")
    for needle in needles:
        assert needle in lines[0]


def test_main_exits_non_zero_for_a_missing_model(tmp_path: Path) -> None:
    result = run_service({"FER_MODEL_STORE": str(tmp_path)})
    assert_one_line_failure(result, "no version with model.json", str(tmp_path))


def test_main_exits_non_zero_for_a_corrupt_model(model_dir: Path, tmp_path: Path) -> None:
    copy = tmp_path / model_dir.parent.name / "0.0.1"
    shutil.copytree(model_dir, copy)
    (copy / "model.onnx").write_bytes(b"\x00" * 100)
    assert_one_line_failure(run_service({"FER_MODEL_STORE": str(tmp_path)}), "sha256")


def test_main_exits_non_zero_for_an_invalid_setting() -> None:
    assert_one_line_failure(run_service({"FER_PORT": "eighty"}), "FER_PORT")


def test_main_serves_the_committed_model() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = {k: v for k, v in os.environ.items() if not k.startswith("FER_")}
    env |= {"FER_PORT": str(port), "FER_LOG_LEVEL": "warning", "FER_ORT_INTRA_OP_THREADS": "1"}
    process = subprocess.Popen([sys.executable, "-m", "service"], cwd=REPO_ROOT, env=env, stderr=subprocess.PIPE)
    try:
        assert wait_for_ready(f"http://127.0.0.1:{port}", process), "the server did not become ready"
    finally:
        process.terminate()
        process.wait(timeout=20)


def wait_for_ready(base_url: str, process: subprocess.Popen[bytes], timeout: float = 60) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and process.poll() is None:
        try:
            if httpx.get(f"{base_url}/readyz", timeout=2).status_code == 200:
                return True
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    return False


def test_main_logs_each_request_with_the_id_it_returns(astronaut_path: Path) -> None:
    """FER_LOG_FORMAT=json: the access line of a request carries the id of its X-Request-ID header."""
    env = {"FER_LOG_FORMAT": "json", "FER_LOG_LEVEL": "info", "FER_ORT_INTRA_OP_THREADS": "1"}
    with service_process(env) as service:
        photo = {"file": ("astronaut.png", astronaut_path.read_bytes(), "image/png")}
        ok = httpx.post(f"{service.base_url}/predict", files=photo, headers={"X-Request-ID": "client-ok-1"}, timeout=60)
        bad = httpx.post(f"{service.base_url}/predict", files={"file": ("x.png", b"not an image")}, timeout=60)
        log = BUILD / f"server-{service.port}.log"
    assert ok.status_code == 200 and ok.headers["X-Request-ID"] == "client-ok-1"
    generated = bad.headers["X-Request-ID"]
    assert bad.status_code == 415 and bad.json()["request_id"] == generated
    records = [json.loads(line) for line in log.read_text().splitlines()]  # every line is JSON
    access = {r["request_id"]: r for r in records if r["logger"] == "fer.access"}
    fields = ("method", "path", "status")
    assert [access["client-ok-1"][f] for f in fields] == ["POST", "/predict", 200]
    assert [access[generated][f] for f in fields] == ["POST", "/predict", 415]
    assert access["client-ok-1"]["duration_ms"] > 0
