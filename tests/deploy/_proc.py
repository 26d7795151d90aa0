"""Start real processes (service, Prometheus) on free loopback ports and wait for them."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def http_get(url: str, timeout: float = 5.0) -> tuple[int, bytes]:
    """(status, body), with HTTP errors as statuses and connection errors as 0."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()
    except (OSError, urllib.error.URLError):
        return 0, b""


def wait_until(check: Callable[[], bool], timeout: float, what: str, proc: subprocess.Popen | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"{what}: process exited with {proc.returncode}")
        time.sleep(0.25)
    raise TimeoutError(f"{what}: not within {timeout:.0f}s")


@contextlib.contextmanager
def running(
    argv: list[str], *, env: dict[str, str], cwd: Path, log: Path, ready_url: str, timeout: float = 90.0
) -> Iterator[subprocess.Popen]:
    """Run argv until the block ends; ready once ready_url answers 200. The log tail is
    put into the error so a failed start is diagnosable from the pytest output alone."""
    with log.open("wb") as out:
        proc = subprocess.Popen(argv, env=env, cwd=cwd, stdout=out, stderr=subprocess.STDOUT)
    try:
        try:
            wait_until(lambda: http_get(ready_url, timeout=2)[0] == 200, timeout, f"{argv[:3]} ready", proc)
        except (RuntimeError, TimeoutError) as error:
            raise AssertionError(f"{error}\n--- {log.name} ---\n{log.read_text(errors='replace')[-4000:]}") from None
        yield proc
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def clean_env(**extra: str) -> dict[str, str]:
    """The caller's env without anything that would let a child import the checkout."""
    env = {k: v for k, v in os.environ.items() if k not in {"PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME"}}
    env.update(extra)
    return env
