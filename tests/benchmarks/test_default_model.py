"""The served-default rule (results/served-default.md) and the README's model table built from it."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench import default_model
from bench.default_model import choose, models_table, served_variants, setting


def row(folder: str, at_32: float, public: float) -> dict:
    name, version = folder.split("/")
    return {"model": f"{name} {version}", "folder": folder, "parameters": 1000, "mflop_per_face": 10.0,
            "faces_per_s": {"1": at_32 / 2, "32": at_32}, "public_test": {"accuracy": public},
            "private_test": {"accuracy": public + 0.01, "macro_f1": public}}  # fmt: skip


PEER = {"model": "fer package", "parameters": 56, "mflop_per_face": 20.3, "faces_per_s": {"1": 1.0, "32": 2.0},
        "private_test": {"accuracy": 0.58, "macro_f1": 0.54}}  # fmt: skip
SHIPPED = [
    row("fer_cnn/1.2.0", 220.0, 0.6857),
    row("fer_cnn/1.2.0-int8", 800.0, 0.6849),
    row("fer_cnn/1.1.0", 220.0, 0.6854),
    row("fer_cnn/1.1.0-int8", 790.0, 0.6865),
    row("fer_lite/1.0.0-int8", 12000.0, 0.6461),
]


def test_only_what_the_default_variant_serves_is_a_candidate() -> None:
    folders = [r["folder"] for r in served_variants([*SHIPPED, row("fer_new/1.0.0", 900.0, 0.7), PEER])]
    assert folders == ["fer_cnn/1.2.0-int8", "fer_cnn/1.1.0-int8", "fer_lite/1.0.0-int8", "fer_new/1.0.0"]


def test_a_gain_under_half_a_point_keeps_the_default() -> None:
    chosen = choose([*SHIPPED, PEER], current="fer_cnn/1.2.0-int8")
    assert chosen["default"] == "fer_cnn/1.2.0-int8"  # 1.1.0-int8 is 0.16 points ahead: not enough
    assert chosen["reasons"]["fer_cnn/1.2.0-int8"].startswith("default: none within its cost")
    assert chosen["reasons"]["fer_cnn/1.1.0-int8"] == "no: +0.16 points on PublicTest against the default"
    assert chosen["reasons"]["fer_cnn/1.1.0"] == "no: the float release of fer_cnn/1.1.0-int8"


def test_the_most_accurate_within_the_cost_replaces_the_default() -> None:
    rows = [*SHIPPED, row("fer_student/1.0.0-int8", 12500.0, 0.6960), row("fer_big/1.0.0-int8", 300.0, 0.72)]
    chosen = choose(rows, current="fer_cnn/1.2.0-int8")
    assert chosen["default"] == "fer_student/1.0.0-int8"
    assert chosen["reasons"]["fer_big/1.0.0-int8"] == "no: 2.7x the CPU per face of 1.2.0-int8"
    assert chosen["reasons"]["fer_cnn/1.2.0-int8"] == "no: -1.11 points on PublicTest against the default"


def test_the_same_cost_allows_five_percent_of_timing_noise() -> None:
    just_within = row("fer_cnn/1.3.0-int8", 0.95 * 800.0, 0.70)
    just_over = row("fer_cnn/1.4.0-int8", 0.94 * 800.0, 0.71)
    assert choose([*SHIPPED, just_within, just_over], current="fer_cnn/1.2.0-int8")["default"] == "fer_cnn/1.3.0-int8"


def test_settings_name_each_folder_as_the_service_resolves_it() -> None:
    folders = [r["folder"] for r in SHIPPED] + ["fer_lite/1.0.0"]
    assert setting("fer_cnn/1.2.0-int8", folders) == "`FER_MODEL_NAME=fer_cnn`"
    assert setting("fer_cnn/1.2.0", folders) == "`FER_MODEL_NAME=fer_cnn` `FER_MODEL_VARIANT=float`"
    assert setting("fer_cnn/1.1.0-int8", folders) == "`FER_MODEL_NAME=fer_cnn` `FER_MODEL_VERSION=1.1.0-int8`"
    assert setting("fer_lite/1.0.0-int8", ["fer_lite/1.0.0-int8"]) == "`FER_MODEL_NAME=fer_lite`"


def test_models_table_has_a_row_per_model_and_the_peer_last() -> None:
    bench = {"machine": {"cores": 2, "cpu": "AMD EPYC", "measured_at": "2026-12-05T12:00:00+00:00"},
             "compare": {"rows": [*SHIPPED, PEER]}}  # fmt: skip
    lines = models_table(bench, current="fer_cnn/1.2.0-int8").splitlines()
    assert "2 cores of an AMD EPYC (2026-12-05)" in lines[0]
    body = lines[-len(SHIPPED) - 1 :]
    assert body[1].startswith("| fer_cnn 1.2.0-int8 | `FER_MODEL_NAME=fer_cnn` | 1,000 | 10.0 | 400.0 | 800.0 |")
    assert "| 68.49 % | 69.49 % | 0.685 | default: none within its cost" in body[1]
    assert body[-1].endswith("| `pip install fer` | 56 | 20.3 | 1.00 | 2.00 | – | 58.00 % | 0.540 | the peer |")


def test_update_readme_replaces_only_the_marked_table(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    readme = tmp_path / "README.md"
    readme.write_text(f"# Title\n\n{default_model.START}\nold table\n{default_model.END}\n\nafter\n")
    monkeypatch.setattr(default_model, "README", readme)
    monkeypatch.setattr(default_model, "read_json", lambda path: {"bench": "json"})
    monkeypatch.setattr(default_model, "models_table", lambda bench, current: f"table of {bench} for {current}")
    default_model.update_readme("fer_cnn/1.2.0-int8")
    expected = f"{default_model.START}\ntable of {{'bench': 'json'}} for fer_cnn/1.2.0-int8\n{default_model.END}"
    assert readme.read_text() == f"# Title\n\n{expected}\n\nafter\n"


def test_the_committed_readme_table_and_the_served_default_come_from_the_recorded_run() -> None:
    from bench.common import BENCH_JSON, read_json

    bench, current = read_json(BENCH_JSON), default_model.current_default()
    text = default_model.README.read_text()
    assert text.split(default_model.START, 1)[1].split(default_model.END, 1)[0].strip() == models_table(bench, current)
    assert choose(bench["compare"]["rows"], current)["default"] == current  # the settings serve the rule's choice
