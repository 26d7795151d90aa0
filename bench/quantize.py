"""INT8 variant of the served model: ONNX Runtime static QDQ quantization, kept only if it is as good.

    python -m bench.quantize [--name fer_cnn] [--version 1.1.0] [--calibration-faces 300] [--max-drop 0.5]

Weights are int8 per output channel in a 7-bit range (so CPUs without VNNI compute them without
saturating), activations int8 with ranges calibrated on a few hundred preprocessed Training faces
(never the test splits). Both models are then scored on PublicTest and PrivateTest through the
shared preprocessing (``training.evaluate.OnnxClassifier``). The variant is shipped as
``model_store/<name>/<version>-int8`` only if it loses at most ``--max-drop`` accuracy points on
PublicTest (a choice, so made on the validation split; PrivateTest is reported); the "-int8"
suffix sorts below the plain release, so the service's "latest" stays the float model.
Results go to ``results/quantize.json``, one entry per float model (``<name>-<version>``).
"""

from __future__ import annotations

import argparse
import json
import shutil
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
from onnxruntime.quantization import (
    CalibrationDataReader,
    CalibrationMethod,
    QuantFormat,
    QuantType,
    quant_pre_process,
    quantize_static,
)

from bench.common import BUILD, DATA, MODEL_STORE, QUANTIZE_JSON, quantize_key, r3, update_json
from service.model_store import resolve_model_dir, sha256_of
from service.preprocessing import PreprocessConfig, to_model_input


class FaceCalibration(CalibrationDataReader):
    """Preprocessed Training faces as model inputs, in batches of ``batch``."""

    def __init__(self, faces: np.ndarray, cfg: PreprocessConfig, input_name: str, batch: int = 32) -> None:
        inputs = to_model_input(faces, cfg)
        self._batches = iter([{input_name: inputs[i : i + batch]} for i in range(0, len(inputs), batch)])

    def get_next(self) -> dict[str, np.ndarray] | None:
        return next(self._batches, None)


def calibration_faces(count: int, seed: int = 0) -> np.ndarray:
    """``count`` random preprocessed Training faces (uint8, N x 48 x 48)."""
    from training.prepare import load_prepared

    splits, _meta = load_prepared(DATA)
    faces = splits["Training"][0]
    return faces[np.random.default_rng(seed).choice(len(faces), size=count, replace=False)]


def quantize(float_dir: Path, out_path: Path, faces: np.ndarray) -> None:
    """Write the QDQ int8 model of ``float_dir`` to ``out_path``."""
    card = json.loads((float_dir / "model.json").read_text())
    prepared = out_path.with_suffix(".pre.onnx")
    # ONNX shape inference + graph optimisation first, as ONNX Runtime recommends before quantizing
    # (its symbolic shape inference would need sympy; the static 48x48 input does not need it).
    quant_pre_process(float_dir / card["onnx"]["file"], prepared, skip_symbolic_shape=True)
    reader = FaceCalibration(faces, PreprocessConfig.from_dict(card["preprocessing"]), card["input"]["name"])
    quantize_static(
        prepared,
        out_path,
        reader,
        quant_format=QuantFormat.QDQ,
        per_channel=True,
        activation_type=QuantType.QInt8,
        weight_type=QuantType.QInt8,
        calibrate_method=CalibrationMethod.MinMax,
        # 7-bit weights: CPUs without VNNI (AVX2 or AVX-512 alone) sum pairs of 8-bit products in
        # 16 bits, which saturates with full-range weights (the full-range fer_lite int8 agreed with its
        # float model on 84.3 % of the committed sample on an AVX2-only host, 98.6 % with 7-bit weights).
        reduce_range=True,
    )
    prepared.unlink()


def write_variant_dir(float_dir: Path, onnx_path: Path, target: Path, calibration: int) -> Path:
    """A model folder for the int8 file with a card copied from the float model and marked as quantized."""
    card = json.loads((float_dir / "model.json").read_text())
    target.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(onnx_path, target / "model.onnx")
    card["version"] = target.name
    card["created"] = datetime.now(UTC).isoformat(timespec="seconds")
    card["onnx"] = {"file": "model.onnx", "sha256": sha256_of(target / "model.onnx"), "bytes": onnx_path.stat().st_size}
    card["quantization"] = {
        "tool": "onnxruntime.quantization.quantize_static",
        "format": "QDQ",
        "weights": "int8 in a 7-bit range (reduce_range: no saturation on CPUs without VNNI), per output channel",
        "activations": "int8, MinMax ranges",
        "calibration": f"{calibration} random preprocessed FER-2013 Training faces",
        "source": {"version": float_dir.name, "sha256": sha256_of(float_dir / "model.onnx")},
    }
    card.pop("metrics", None)  # the float model's scores do not describe this one; filled in below
    (target / "model.json").write_text(json.dumps(card, indent=2) + "\n")
    return target


def score(model_dir: Path) -> dict[str, dict[str, Any]]:
    """PublicTest and PrivateTest reports of a model folder, through the shared preprocessing."""
    from training.evaluate import OnnxClassifier, evaluate_split, load_raw_split

    model = OnnxClassifier(model_dir)
    return {
        split: evaluate_split(model, *load_raw_split(str(DATA), split))[0] for split in ("PublicTest", "PrivateTest")
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--name", default="fer_cnn", help="model name in model_store/")
    parser.add_argument("--version", default="latest", help="float model version to quantize")
    parser.add_argument("--calibration-faces", type=int, default=300)
    parser.add_argument("--max-drop", type=float, default=0.5, help="accuracy points the int8 model may lose")
    args = parser.parse_args()
    float_dir = resolve_model_dir(MODEL_STORE, args.name, args.version)
    BUILD.mkdir(parents=True, exist_ok=True)
    int8_file = BUILD / f"{args.name}-{float_dir.name}-int8.onnx"
    quantize(float_dir, int8_file, calibration_faces(args.calibration_faces))
    candidate = write_variant_dir(
        float_dir, int8_file, BUILD / args.name / f"{float_dir.name}-int8", args.calibration_faces
    )
    result = compare(float_dir, candidate, args.max_drop)
    result["int8_file"] = str(int8_file.relative_to(BUILD.parents[1]))
    ship(candidate, result)
    update_json(QUANTIZE_JSON, quantize_key(float_dir), result)
    print(json.dumps({k: v for k, v in result.items() if k != "int8_metrics"}, indent=2))


def compare(float_dir: Path, candidate: Path, max_drop: float) -> dict[str, Any]:
    """Accuracy of both models; records the int8 scores in the candidate's card."""
    float_metrics, int8_metrics = score(float_dir), score(candidate)
    card = json.loads((candidate / "model.json").read_text())
    card["metrics"] = int8_metrics
    (candidate / "model.json").write_text(json.dumps(card, indent=2) + "\n")
    drop = 100 * (float_metrics["PublicTest"]["accuracy"] - int8_metrics["PublicTest"]["accuracy"])
    return {
        "float_version": float_dir.name,
        "int8_version": candidate.name,
        "privatetest_accuracy": {
            "float": r3(100 * float_metrics["PrivateTest"]["accuracy"]),
            "int8": r3(100 * int8_metrics["PrivateTest"]["accuracy"]),
        },
        "publictest_accuracy": {
            "float": r3(100 * float_metrics["PublicTest"]["accuracy"]),
            "int8": r3(100 * int8_metrics["PublicTest"]["accuracy"]),
        },
        "publictest_drop_points": r3(drop),
        "max_drop_points": max_drop,
        "shipped": drop <= max_drop,
        "int8_metrics": int8_metrics["PrivateTest"],
    }


def ship(candidate: Path, result: dict[str, Any]) -> None:
    """Copy the candidate into the model store if it passed; remove a stale shipped copy if not."""
    target = MODEL_STORE / candidate.parent.name / candidate.name
    if target.exists():
        shutil.rmtree(target)
    if result["shipped"]:
        shutil.copytree(candidate, target)
        result["model_dir"] = str(target.relative_to(MODEL_STORE.parent))


if __name__ == "__main__":
    main()
