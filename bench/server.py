"""The service as the benchmarks see it: ``python -m service`` in a subprocess, on a free port."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from bench.common import BUILD, REPO_ROOT


@dataclass(frozen=True)
class RunningService:
    process: subprocess.Popen[bytes]
    port: int

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def rss_kib(self) -> int:
        """Resident memory of the server process (VmRSS in /proc), in KiB."""
        return self._status_kib("VmRSS:")

    def peak_rss_kib(self) -> int:
        """The highest resident memory the server process has had so far (VmHWM), in KiB."""
        return self._status_kib("VmHWM:")

    def _status_kib(self, field: str) -> int:
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith(field):
                return int(line.split()[1])
        raise RuntimeError(f"no {field} line")

    def cpu_seconds(self) -> float:
        """User + system CPU time the server process has used so far (all its threads)."""
        fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime, stime

    def metrics(self) -> dict[str, float]:
        """The unlabelled samples of /metrics (and labelled ones under their full name)."""
        text = httpx.get(f"{self.base_url}/metrics", timeout=10).text
        samples = (line.rsplit(" ", 1) for line in text.splitlines() if line and not line.startswith("#"))
        return {name: float(value) for name, value in samples}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def service_process(
    env: dict[str, str], ready_timeout: float = 90, command: list[str] | None = None
) -> Iterator[RunningService]:
    """Start the service with these ``FER_*`` settings, wait for /readyz, stop it with SIGTERM after.

    ``command`` replaces ``python -m service`` (tests start it through a script that injects a fault).
    """
    port = free_port()
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("FER_")}
    full_env |= {"FER_PORT": str(port), "FER_LOG_LEVEL": "warning", **env}
    BUILD.mkdir(parents=True, exist_ok=True)
    with open(BUILD / f"server-{port}.log", "wb") as log:
        argv = command or [sys.executable, "-m", "service"]
        process = subprocess.Popen(argv, cwd=REPO_ROOT, env=full_env, stderr=log)
        service = RunningService(process, port)
        try:
            wait_ready(service, ready_timeout)
            yield service
        finally:
            stop(process)


def wait_ready(service: RunningService, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if service.process.poll() is not None:
            raise RuntimeError(f"the service exited with {service.process.returncode} (log in {BUILD})")
        try:
            if httpx.get(f"{service.base_url}/readyz", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"the service was not ready after {timeout} s")


def stop(process: subprocess.Popen[bytes], timeout: float = 30) -> int:
    """SIGTERM (the service finishes what is in flight), then SIGKILL if it does not go."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            return process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
    return process.wait()
