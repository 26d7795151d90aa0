"""The training config: bfloat16 only where the CPU computes it natively."""

from __future__ import annotations

from pathlib import Path

import pytest

from training.config import TrainConfig, cpu_has_bf16, parse_args


@pytest.mark.parametrize(
    ("flags", "expected"),
    [("fpu avx2 fma", False), ("avx2 avx512f avx512_vnni", False), ("avx512f avx512_bf16", True), ("amx_bf16", True)],
)
def test_cpu_has_bf16_reads_the_cpu_flags(tmp_path: Path, flags: str, expected: bool) -> None:
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text(f"processor\t: 0\nflags\t\t: {flags}\n")
    assert cpu_has_bf16(cpuinfo) is expected


def test_cpu_has_bf16_is_false_without_cpuinfo(tmp_path: Path) -> None:
    assert cpu_has_bf16(tmp_path / "missing") is False


def test_mixed_precision_defaults_to_the_host_and_can_be_overridden() -> None:
    assert TrainConfig().mixed_precision is cpu_has_bf16()
    assert parse_args(["--mixed_precision", "true"]).mixed_precision is True
    assert parse_args(["--mixed_precision", "false"]).mixed_precision is False
