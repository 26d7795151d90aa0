"""Stage: rebuild a trainable Keras run from an exported ONNX model whose training run is gone.

    python -m training.recover --model model_store/fer_cnn/1.1.0 --out runs/fer_cnn_1.1.0

tf2onnx folds every BatchNorm into the layer before it: the convolution's (or dense layer's)
kernel is scaled by gamma / sigma and the rest becomes a bias. Those folded kernels go back into
a network built from the card's training config, and each BatchNorm is "unfolded" so that both
of its modes compute what the exported graph computes: its input's per-channel mean m and
variance v are measured on Training faces, and it gets moving statistics (m, v), gamma
sqrt(v + eps) and beta bias + m. Inference is then exactly the exported function (checked against
ONNX Runtime), and a training batch, normalised by its own statistics, lands close to it, so
``python -m training.train --init_weights <out>/last.weights.h5`` fine-tunes the shipped model.
Writes ``config.json``, ``last.weights.h5`` and ``recovered.json`` (the source model and parity).
"""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

import keras
import numpy as np
import onnx
from onnx import numpy_helper

from service.model_store import sha256_of
from service.preprocessing import PreprocessConfig, to_model_input
from training.config import TrainConfig
from training.export import check_parity, with_flip_tta
from training.model import build_model, build_training_model
from training.prepare import load_prepared

# ".../b2_conv1_1/convolution/merged_input:0" -> ("b2_conv1", "convolution/merged_input")
INITIALIZER = re.compile(r"/(?P<layer>b\d+_conv\d+|b\d+_bn\d+|dense|dense_bn|probs)_\d+/(?P<part>[^:]+):0$")
PARTS = {
    "convolution/merged_input": "kernel",
    "batchnorm/sub": "bias",
    "batchnorm/mul": "scale",
    "Cast/ReadVariableOp": "kernel",
    "BiasAdd/ReadVariableOp": "bias",
}


def onnx_weights(path: Path) -> dict[str, dict[str, np.ndarray]]:
    """The folded weights of an exported VGG classifier, by Keras layer name and part."""
    found: dict[str, dict[str, np.ndarray]] = {}
    for initializer in onnx.load(str(path)).graph.initializer:
        match = INITIALIZER.search(initializer.name)
        if match and match["part"] in PARTS:
            found.setdefault(match["layer"], {})[PARTS[match["part"]]] = numpy_helper.to_array(initializer)
    return found


def load_folded(classifier: keras.Model, weights: dict[str, dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    """Put the folded kernels in place, every BatchNorm adding its bias only; returns each BN's bias."""
    biases = {}
    for layer in classifier.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            source = layer.name.replace("_bn", "_conv") if layer.name != "dense_bn" else "dense"
            biases[layer.name] = weights[layer.name]["bias"]
            kernel = weights[source]["kernel"]
            if source == "dense":  # the dense BN stays a separate scale in the graph: fold it here
                kernel = kernel * weights["dense_bn"]["scale"]
            classifier.get_layer(source).set_weights([_keras_kernel(kernel)])
            ones = np.ones(len(biases[layer.name]))  # gamma sqrt(1 + eps) over sigma sqrt(1 + eps): x + bias
            layer.set_weights([ones * np.sqrt(1 + layer.epsilon), biases[layer.name], 0 * ones, ones])
    probs = weights["probs"]
    classifier.get_layer("probs").set_weights([probs["kernel"], probs["bias"]])
    return biases


def _keras_kernel(kernel: np.ndarray) -> np.ndarray:
    """ONNX Conv weights are (out, in, kh, kw); Keras wants (kh, kw, in, out). Dense kernels match."""
    return kernel.transpose(2, 3, 1, 0) if kernel.ndim == 4 else kernel


def unfold_batchnorms(classifier: keras.Model, biases: dict[str, np.ndarray], faces: np.ndarray) -> None:
    """Give every BN the statistics of its input on ``faces`` while keeping its function (see above)."""
    norms = [layer for layer in classifier.layers if layer.name in biases]
    probe = keras.Model(classifier.input, [layer.input for layer in norms])
    sums = [np.zeros(len(biases[layer.name])) for layer in norms]
    squares = [np.zeros_like(s) for s in sums]
    counts = [0] * len(norms)
    for start in range(0, len(faces), 256):
        outputs = probe(faces[start : start + 256], training=False)
        for index, out in enumerate(outputs):
            flat = np.asarray(out, np.float64).reshape(-1, out.shape[-1])
            sums[index] += flat.sum(axis=0)
            squares[index] += (flat**2).sum(axis=0)
            counts[index] += len(flat)
    for layer, total, square, count in zip(norms, sums, squares, counts, strict=True):
        mean = total / count
        var = np.maximum(square / count - mean**2, 0.0)
        gamma = np.sqrt(var + layer.epsilon)
        layer.set_weights([gamma, biases[layer.name] + mean, mean, var])


def recover(model_dir: Path, out: Path, data: str, bn_images: int = 8192) -> dict:
    """Write a run folder holding the exported model as trainable Keras weights; returns recovered.json."""
    card = json.loads((model_dir / "model.json").read_text())
    config = {**card["training"]["config"], "name": out.name, "runs_dir": str(out.parent), "init_weights": ""}
    cfg = TrainConfig.from_dict(config)
    keras.mixed_precision.set_global_policy("float32")
    classifier = build_model(cfg)
    biases = load_folded(classifier, onnx_weights(model_dir / card["onnx"]["file"]))
    splits, meta = load_prepared(data)
    pre = PreprocessConfig.from_dict(meta["preprocessing"])
    training_faces = splits["Training"][0]
    picks = np.random.default_rng(0).permutation(len(training_faces))[:bn_images]
    unfold_batchnorms(classifier, biases, to_model_input(training_faces[picks], pre))  # only the faces used
    graph = with_flip_tta(classifier) if card["export"].get("tta") == "flip" else classifier
    checked = to_model_input(splits["PublicTest"][0][:512], pre)
    parity = check_parity(graph, model_dir / card["onnx"]["file"], checked, 1e-4)
    cfg.save(out / "config.json")
    build_training_model(classifier, cfg).save_weights(out / "last.weights.h5")
    record = {
        "model": str(model_dir),
        "name": card["name"],
        "version": card["version"],
        "sha256": sha256_of(model_dir / card["onnx"]["file"]),
        "parity_max_abs": parity,
        "unfolded_on_training_faces": len(picks),
        "training": card["training"],
    }
    (out / "recovered.json").write_text(json.dumps(record, indent=2) + "\n")
    return record


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, required=True, help="an exported model folder (VGG architecture)")
    parser.add_argument("--out", type=Path, required=True, help="the run folder to write (runs/<name>)")
    parser.add_argument("--data", default="data/processed/fer2013.npz")
    parser.add_argument("--bn-images", type=int, default=8192)
    args = parser.parse_args()
    record = recover(args.model, args.out, args.data, args.bn_images)
    print(f"recovered {record['name']} {record['version']} into {args.out}: parity {record['parity_max_abs']:.2e}")


if __name__ == "__main__":
    main()
