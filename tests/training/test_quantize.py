"""training.quantize on the committed sample: the light model's int8 variant, shipped only if it keeps its accuracy."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import numpy_helper

from training import quantize

STORE = Path(__file__).resolve().parents[2] / "model_store"


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A model store holding a copy of fer_lite 1.0.0 alone; variants are built under tmp_path too."""
    monkeypatch.setattr(quantize, "BUILD", tmp_path / "build")
    shutil.copytree(STORE / "fer_lite" / "1.0.0", tmp_path / "store" / "fer_lite" / "1.0.0")
    return tmp_path / "store"


@pytest.mark.slow
def test_quantize_release_ships_a_seven_bit_variant_with_its_own_card(store: Path, prepared_sample: Path) -> None:
    float_dir = store / "fer_lite" / "1.0.0"
    result = quantize.quantize_release(float_dir, store, prepared_sample, calibration=64, max_drop=100.0)
    shipped = store / "fer_lite" / "1.0.0-int8"
    assert result["shipped"] and result["model_dir"] == str(shipped) and result["int8_version"] == "1.0.0-int8"
    card = json.loads((shipped / "model.json").read_text())
    assert card["version"] == "1.0.0-int8" and card["quantization"]["source"]["version"] == "1.0.0"
    assert card["quantization"]["calibration"].startswith("64 random") and card["metrics"]["PublicTest"]["n"] == 70
    graph = onnx.load(str(shipped / "model.onnx")).graph
    kernels = [numpy_helper.to_array(t) for t in graph.initializer if t.data_type == onnx.TensorProto.INT8]
    assert max(int(np.abs(w.astype(np.int16)).max()) for w in kernels if w.ndim >= 2) <= 64  # reduce_range
    assert card["quantization"]["float_nodes"] == ["Conv__54"] == float_convolutions(graph)


def float_convolutions(graph: onnx.GraphProto) -> list[str]:
    """Conv nodes whose input is not a DequantizeLinear output: those left in float."""
    dequantized = {out for node in graph.node if node.op_type == "DequantizeLinear" for out in node.output}
    return [node.name for node in graph.node if node.op_type == "Conv" and node.input[0] not in dequantized]


def test_stem_convolutions_are_the_convolutions_reading_the_image() -> None:
    assert quantize.stem_convolutions(STORE / "fer_lite" / "1.0.0" / "model.onnx") == ["Conv__54"]  # after a Reshape
    members = quantize.stem_convolutions(STORE / "fer_ensemble" / "1.1.0" / "model.onnx")  # after Identity
    assert members == [f"m{i}_Conv__115" for i in range(4)]


@pytest.mark.slow
def test_quantize_without_float_stem_quantizes_every_convolution(tmp_path: Path, prepared_sample: Path) -> None:
    faces = quantize.calibration_faces(prepared_sample, 32)
    float_nodes = quantize.quantize(STORE / "fer_lite" / "1.0.0", tmp_path / "int8.onnx", faces, float_stem=False)
    assert float_nodes == [] and float_convolutions(onnx.load(str(tmp_path / "int8.onnx")).graph) == []


@pytest.mark.slow
def test_quantize_release_withdraws_a_variant_that_loses_too_much(store: Path, prepared_sample: Path) -> None:
    stale = store / "fer_lite" / "1.0.0-int8"
    stale.mkdir()
    result = quantize.quantize_release(store / "fer_lite" / "1.0.0", store, prepared_sample, 64, max_drop=-100.0)
    assert not result["shipped"] and "model_dir" not in result and not stale.exists()
    assert Path(result["int8_file"]).is_file()  # kept under build/ for the benchmarks


def test_record_replaces_one_model_s_entry_and_keeps_the_others(tmp_path: Path) -> None:
    results = tmp_path / "results" / "quantize.json"
    quantize.record(results, "fer_cnn-1.2.0", {"shipped": True})
    quantize.record(results, "fer_lite-1.0.0", {"shipped": False})
    quantize.record(results, "fer_cnn-1.2.0", {"shipped": False, "again": True})
    assert json.loads(results.read_text()) == {
        "fer_cnn-1.2.0": {"shipped": False, "again": True},
        "fer_lite-1.0.0": {"shipped": False},
    }
    assert quantize.quantize_key(Path("model_store/fer_cnn/1.2.0")) == "fer_cnn-1.2.0"
