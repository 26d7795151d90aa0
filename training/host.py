"""What a run trains on, for its logs: the CPU's model, or the GPU's name when JAX trains on one."""

from __future__ import annotations

import platform
from pathlib import Path

import keras


def cpu_model() -> str:
    """The CPU's model name (platform.processor() is often just the architecture)."""
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def training_device() -> str:
    """What ran the epochs, for progress.csv's host column: the GPU's name when JAX trains on one
    ("NVIDIA H200"), else the CPU's model."""
    if keras.backend.backend() == "jax":
        import jax

        device = jax.devices()[0]
        if device.platform != "cpu":
            return str(device.device_kind)
    return cpu_model()
