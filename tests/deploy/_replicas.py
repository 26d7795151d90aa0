"""Replicas of the service as processes, a steady closed-loop load, and HAProxy's view of them."""

from __future__ import annotations

import csv
import io
import subprocess
import sys
import threading
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from ._proc import clean_env, http_get, wait_until
from .conftest import REPO


@dataclass
class Replica:
    """``python -m service`` on a fixed port, which can be killed and started again on it."""

    name: str
    port: int
    log: Path
    env: dict[str, str]
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> None:
        env = clean_env(**self.env, FER_HOST="127.0.0.1", FER_PORT=str(self.port))
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "service"], env=env, cwd=REPO, stdout=out, stderr=subprocess.STDOUT
            )

    def wait_ready(self, timeout: float = 180) -> None:
        ready = lambda: http_get(f"http://{self.address}/readyz", timeout=2)[0] == 200  # noqa: E731
        try:
            wait_until(ready, timeout, f"{self.name} ready", self.process)
        except (RuntimeError, TimeoutError) as error:
            raise AssertionError(f"{error}\n{self.log.read_text(errors='replace')[-3000:]}") from None

    def kill(self) -> None:
        """SIGKILL: a crash or a lost machine, with requests in flight and no goodbye."""
        assert self.process is not None
        self.process.kill()
        self.process.wait()

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def predictions(self) -> float:
        """/predict answers with 200 this process has counted (its own /metrics)."""
        text = httpx.get(f"http://{self.address}/metrics", timeout=10).text
        wanted = 'fer_requests_total{endpoint="/predict",status="200"}'
        values = [float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line.startswith(wanted)]
        return values[0] if values else 0.0


class SteadyLoad:
    """Clients that each post the same photo to /predict in a closed loop until stopped."""

    def __init__(self, url: str, photo: bytes, clients: int) -> None:
        self.url, self.photo = url, photo
        self.outcomes: Counter[str] = Counter()  # "200", "503", "ReadError", ...
        self.first_failures: list[str] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._client, daemon=True) for _ in range(clients)]

    def __enter__(self) -> SteadyLoad:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=90)

    @property
    def sent(self) -> int:
        return sum(self.outcomes.values())

    @property
    def failed(self) -> int:
        return self.sent - self.outcomes["200"]

    def _client(self) -> None:
        files = {"file": ("photo.jpg", self.photo, "image/jpeg")}
        with httpx.Client(base_url=self.url, timeout=90) as client:
            while not self._stop.is_set():
                try:
                    response = client.post("/predict", files=files)
                    outcome = str(response.status_code)
                    detail = response.text[:200]
                except httpx.HTTPError as error:
                    outcome, detail = type(error).__name__, str(error)
                with self._lock:
                    self.outcomes[outcome] += 1
                    if outcome != "200" and len(self.first_failures) < 5:
                        self.first_failures.append(f"{outcome}: {detail}")


def haproxy_stats(stats_url: str) -> dict[str, dict[str, str]]:
    """HAProxy's CSV statistics by server name (and BACKEND / FRONTEND rows) of every proxy."""
    status, body = http_get(f"{stats_url};csv", timeout=5)
    assert status == 200, f"HAProxy stats: {status}"
    rows = csv.DictReader(io.StringIO(body.decode().removeprefix("# ")))
    return {f"{row['pxname']}/{row['svname']}": row for row in rows}
