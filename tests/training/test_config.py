"""The training config: bfloat16 only where the CPU trains faster with it."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

import pytest

from training.config import TrainConfig, bf16_is_faster, parse_args


@pytest.mark.parametrize(
    ("vendor", "flags", "expected"),
    [
        ("AuthenticAMD", "fpu avx2 fma", False),
        ("AuthenticAMD", "avx2 avx512f avx512_vnni", False),
        ("AuthenticAMD", "avx512f avx512_bf16", True),
        ("GenuineIntel", "avx512f avx512_bf16 avx512_fp16", False),  # measured 1.4x slower than float32
        ("GenuineIntel", "avx512_bf16 amx_bf16 amx_tile", True),
    ],
)
def test_bf16_is_faster_reads_the_cpu(tmp_path: Path, vendor: str, flags: str, expected: bool) -> None:
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text(f"processor\t: 0\nvendor_id\t: {vendor}\nflags\t\t: {flags}\n")
    assert bf16_is_faster(cpuinfo) is expected


def test_bf16_is_faster_is_false_without_cpuinfo(tmp_path: Path) -> None:
    assert bf16_is_faster(tmp_path / "missing") is False


def test_mixed_precision_defaults_to_the_host_and_can_be_overridden() -> None:
    assert TrainConfig().mixed_precision is bf16_is_faster()
    assert parse_args(["--mixed_precision", "true"]).mixed_precision is True
    assert parse_args(["--mixed_precision", "false"]).mixed_precision is False


def test_a_config_saved_before_options_were_retired_loads_at_their_neutral_value() -> None:
    """1.2.0's card and the checkpoints of runs begun before the retirement record ``arch`` and ``extra_train``."""
    saved = {**asdict(TrainConfig(name="old")), "arch": "vgg", "extra_train": ""}
    assert TrainConfig.from_dict(saved).name == "old"
    with pytest.raises(ValueError, match="arch='separable': a retired option .* commit 5ffa68f"):
        TrainConfig.from_dict({**saved, "arch": "separable"})
    assert TrainConfig.from_dict({**saved, "rep_branches": False}).name == "old"
    with pytest.raises(ValueError, match="rep_branches=True: a retired option .* commit 7d588e5"):
        TrainConfig.from_dict({**saved, "rep_branches": True})
