"""Build and run the project's Dockerfile with Podman, with no registry but PyPI.

The Dockerfile's base (``python:3.11-slim-bookworm``) lives on Docker Hub, which CI cannot
reach. Debian can: debootstrap makes a bookworm root file system with Debian's Python 3.11
(the same Python minor and Debian release as the official image), ``podman import`` turns it
into a local image, and the Dockerfile is built on it with ``--build-arg PYTHON_IMAGE``.

What this machine needs, found by trying: runc (crun fails on its cgroups), the host network
(for pip inside the build and to reach the container), and explicit rlimits on ``run``
(podman's defaults, and even ``--ulimit host``, ask for limits runc may not set here).
"""

from __future__ import annotations

import contextlib
import resource
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

PODMAN = ["podman", "--runtime", "runc"]
SUITE = "bookworm"
BASE_PACKAGES = "python3,python3-venv,python-is-python3,ca-certificates"
# The machine's bundle: it holds whatever CA the network between this machine and PyPI needs.
HOST_CA_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")
# Package caches, indexes and docs are not needed to run Python; they would only bloat the image.
BASE_TRIM = ("var/cache/apt", "var/lib/apt/lists", "usr/share/doc", "usr/share/man", "usr/share/locale")


def podman(*args: str, log: Path | None = None, timeout: float = 120, check: bool = True) -> str:
    """Run podman; its output goes to log (appended) if given, else is returned."""
    argv = [*PODMAN, *args]
    if log is None:
        result = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
        output = result.stdout + result.stderr
    else:
        with log.open("a") as out:
            out.write(f"$ {' '.join(argv)}\n")
            out.flush()
            result = subprocess.run(argv, stdout=out, stderr=subprocess.STDOUT, text=True, timeout=timeout)
        output = log.read_text(errors="replace")[-4000:]
    assert not check or result.returncode == 0, f"{' '.join(argv)} exited {result.returncode}:\n{output}"
    return result.stdout.strip() if log is None else ""


def make_base_rootfs(rootfs: Path, log: Path) -> None:
    """Debian bookworm (minbase) with Python 3.11, venv and the host's CA bundle."""
    argv = ["debootstrap", "--variant=minbase", f"--include={BASE_PACKAGES}", SUITE, str(rootfs)]
    with log.open("a") as out:
        result = subprocess.run(argv, stdout=out, stderr=subprocess.STDOUT, timeout=600)
    assert result.returncode == 0, f"debootstrap failed:\n{log.read_text(errors='replace')[-4000:]}"
    shutil.copy(HOST_CA_BUNDLE, rootfs / HOST_CA_BUNDLE.relative_to("/"))
    for relative in BASE_TRIM:
        for child in (rootfs / relative).glob("*"):
            shutil.rmtree(child) if child.is_dir() and not child.is_symlink() else child.unlink()


def import_rootfs(rootfs: Path, tag: str, log: Path) -> None:
    """``tar -C rootfs -c . | podman import - tag``."""
    with log.open("a") as out:
        tar = subprocess.Popen(["tar", "-C", str(rootfs), "-c", "."], stdout=subprocess.PIPE)
        result = subprocess.run([*PODMAN, "import", "-", tag], stdin=tar.stdout, stdout=out, stderr=subprocess.STDOUT)
        assert tar.stdout is not None
        tar.stdout.close()
    assert tar.wait() == 0 and result.returncode == 0, f"podman import failed:\n{log.read_text()[-4000:]}"


def build(context: Path, tag: str, base: str, log: Path) -> float:
    """Build the Dockerfile on the local base; returns the seconds it took.

    Docker format keeps the HEALTHCHECK (OCI has no field for it); no layer cache, so every
    session builds from scratch and leaves no intermediate images behind.
    """
    began = time.monotonic()
    podman(
        *("build", "--format", "docker", "--layers=false", "--network", "host"),
        *("--build-arg", f"PYTHON_IMAGE={base}", "-t", tag, str(context)),
        log=log,
        timeout=900,
    )
    return time.monotonic() - began


def run_limits() -> list[str]:
    """Open files and processes below the host's own hard limits (equal ones are refused here)."""
    nofile = min(16384, resource.getrlimit(resource.RLIMIT_NOFILE)[1] // 2)
    nproc = min(8192, resource.getrlimit(resource.RLIMIT_NPROC)[1] // 2)
    return ["--ulimit", f"nofile={nofile}:{nofile}", "--ulimit", f"nproc={nproc}:{nproc}"]


@contextlib.contextmanager
def container(image: str, name: str, env: dict[str, str], *extra: str) -> Iterator[str]:
    """A detached container on the host network; removed (with its logs kept by the caller) after."""
    env_args = [arg for key, value in env.items() for arg in ("-e", f"{key}={value}")]
    # --no-healthcheck: podman would schedule the HEALTHCHECK with systemd timers, absent here;
    # the test runs the image's HEALTHCHECK command itself.
    options = ["--name", name, "--network", "host", "--no-healthcheck", *run_limits(), *env_args, *extra]
    podman("run", "-d", *options, image)
    try:
        yield name
    finally:
        podman("rm", "-f", "-t", "0", name, check=False)


def inspect(name: str, template: str, *, image: bool = False) -> str:
    return podman("image" if image else "container", "inspect", "--format", template, name)
