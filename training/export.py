"""Stage 3: Keras classifier -> ONNX in model_store/<name>/<version>/, with a parity check.

    python -m training.export --run runs/fer_cnn_v1_ft --name fer_cnn --version 1.1.0

Writes model.onnx and model.json (labels, input, preprocessing, training config, dataset,
sha256, date). ``training.evaluate`` adds the metrics. The export fails when ONNX Runtime
and Keras disagree on real images by more than ``--tolerance`` (max abs probability).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import platform
from pathlib import Path

import keras
import numpy as np

from service.model_store import sha256_of
from service.preprocessing import PreprocessConfig, to_model_input
from training.checkpoint import read_state
from training.config import TrainConfig
from training.flops import count_macs
from training.labels import LABELS
from training.model import INPUT_SHAPE
from training.precise_bn import recalibrate
from training.prepare import load_prepared
from training.progress import progress_timing
from training.train import load_classifier

INPUT_NAME, OUTPUT_NAME = "face", "probs"


# Written into every card before training.evaluate looks at PrivateTest (once per shipped model).
SELECTION_RULE = (
    "on PublicTest only: the better of the best-epoch and last-epoch weights, each after precise BN, "
    "with flip TTA when it helps (or as --tta says); PrivateTest evaluated once, afterwards"
)


class ParityError(RuntimeError):
    """ONNX Runtime and Keras give different probabilities for the same faces."""


def with_flip_tta(classifier: keras.Model) -> keras.Model:
    """Average the probabilities of each face and its mirror image (test-time augmentation)."""
    inputs = keras.Input(INPUT_SHAPE, name=INPUT_NAME)
    mirrored = keras.layers.Lambda(lambda x: keras.ops.flip(x, axis=2), name="mirror")(inputs)
    probs = keras.layers.Average(name=OUTPUT_NAME)([classifier(inputs), classifier(mirrored)])
    return keras.Model(inputs, probs, name="fer_cnn_tta")


def to_onnx(model: keras.Model, path: Path, opset: int = 17, output_name: str = OUTPUT_NAME) -> None:
    """Convert with tf2onnx, naming the input 'face' and the output ``output_name`` ('probs')."""
    import tensorflow as tf
    import tf2onnx

    spec = (tf.TensorSpec((None, *INPUT_SHAPE), tf.float32, name=INPUT_NAME),)
    model.output_names = [output_name]
    tf2onnx.convert.from_keras(model, input_signature=spec, opset=opset, output_path=str(path))


def check_parity(model: keras.Model, onnx_path: Path, faces: np.ndarray, tolerance: float) -> float:
    """Max abs difference between Keras and ONNX Runtime probabilities; raises above tolerance."""
    import onnxruntime as ort

    session = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    expected = model.predict(faces, batch_size=256, verbose=0)
    got = session.run(None, {session.get_inputs()[0].name: faces})[0]
    diff = float(np.abs(expected - got).max())
    if not diff < tolerance:
        raise ParityError(f"{onnx_path}: ONNX and Keras differ by {diff:.2e} (> {tolerance:.0e})")
    return diff


def architecture(cfg: TrainConfig, parameters: int, onnx_path: Path) -> dict:
    """What the network is and what a face costs: FLOPs of the exported graph, TTA included."""
    return {
        "arch": "vgg",
        "widths": list(cfg.widths),
        "convs_per_block": cfg.convs_per_block,
        "dense_units": cfg.dense_units,
        "parameters": parameters,
        "mflop_per_face": round(2 * count_macs(onnx_path)["total"] / 1e6, 3),
    }


def teacher_record(cfg: TrainConfig) -> dict | None:
    """For a distilled student: the teacher (members, PublicTest accuracy, how its views were made if it
    has them) and the distillation settings, "targets" saying whether the student trained on the views."""
    if not cfg.teacher:
        return None
    described = json.loads(Path(cfg.teacher).with_suffix(".json").read_text())
    targets = "cached on its views" if cfg.teacher_views else "cached"
    return {**described, "temperature": cfg.kd_temperature, "alpha": cfg.kd_alpha, "targets": targets}


def build_metadata(run_dir: Path, name: str, version: str, onnx_path: Path, extra: dict, parameters: int) -> dict:
    """The self-describing model card the service reads."""
    cfg = TrainConfig.load(run_dir / "config.json")
    _, data_meta = load_prepared(cfg.data)
    return {
        "name": name,
        "version": version,
        "created": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "labels": list(LABELS),
        "input": {"name": INPUT_NAME, "shape": [None, *INPUT_SHAPE], "dtype": "float32", "layout": "NHWC"},
        "output": {"name": OUTPUT_NAME, "shape": [None, len(LABELS)], "dtype": "float32", "kind": "probabilities"},
        "preprocessing": data_meta["preprocessing"],
        "onnx": {"file": onnx_path.name, "sha256": sha256_of(onnx_path), "bytes": onnx_path.stat().st_size},
        "dataset": {
            "name": "FER-2013",
            "source": data_meta["source"],
            "splits": {"train": "Training", "validation": "PublicTest", "test": "PrivateTest"},
        },
        "architecture": architecture(cfg, parameters, onnx_path),
        "teacher": teacher_record(cfg),
        "training": run_record(run_dir),
        "export": {"host": platform.platform(), **extra},
        "selection_rule": SELECTION_RULE,
        "metrics": {},
    }


def run_record(run_dir: Path) -> dict:
    """A run's config and timing, preceded by those of the run it was fine-tuned from, if any."""
    config = json.loads((run_dir / "config.json").read_text())
    timing_file = run_dir / "timing.json"
    timing = json.loads(timing_file.read_text()) if timing_file.is_file() else None
    record = {"run": str(run_dir), "config": config, "timing": timing}
    if config.get("init_weights"):
        record["initialised_from"] = start_record(Path(config["init_weights"]), config.get("runs_dir", "runs"))
    recovered = run_dir / "recovered.json"  # a run rebuilt from an exported model (training.recover)
    if recovered.is_file():
        record["recovered_from"] = json.loads(recovered.read_text())
    return record


def start_record(start: Path, runs_dir: str) -> dict:
    """The stage a run started from: its checkpoint folder, or its run folder, which is also where to
    look once that checkpoint folder is deleted (a finished stage's is, docs/long-runs.md). ``start`` is
    that folder or a weights file in one of them; both folders carry the run's name."""
    if start.is_dir():
        return checkpoint_record(start)
    for folder in (start.parent, Path(runs_dir) / start.name, Path(runs_dir) / start.parent.name):
        if (folder / "config.json").is_file():
            return run_record(folder)
    return {"init_weights": str(start), "record": "none left on the machine that exported"}


def checkpoint_record(folder: Path) -> dict:
    """An earlier stage known by its checkpoint folder (training.checkpoint): its config and timing."""
    return {"checkpoint": str(folder), "config": read_state(folder)["config"], "timing": progress_timing(folder)}


def accuracy(model: keras.Model, faces: np.ndarray, labels: np.ndarray) -> float:
    return float((model.predict(faces, batch_size=512, verbose=0).argmax(1) == labels).mean())


def select_variant(classifier: keras.Model, data, bn_images: int, tta: str) -> tuple[keras.Model, dict]:
    """Choose precise-BN and flip-TTA on PublicTest accuracy (never on PrivateTest)."""
    (xt, _), (xv, yv) = data
    choice: dict = {"publictest_accuracy_as_trained": accuracy(classifier, xv, yv)}
    if bn_images:
        trained = classifier.get_weights()
        picks = np.random.default_rng(0).permutation(len(xt))[:bn_images]
        choice["precise_bn_batches"] = recalibrate(classifier, xt[picks])
        choice["publictest_accuracy_precise_bn"] = accuracy(classifier, xv, yv)
        choice["precise_bn"] = choice["publictest_accuracy_precise_bn"] > choice["publictest_accuracy_as_trained"]
        if not choice["precise_bn"]:
            classifier.set_weights(trained)
    model = classifier
    if tta != "none":
        flipped = with_flip_tta(classifier)
        choice["publictest_accuracy_flip_tta"] = accuracy(flipped, xv, yv)
        base = max(choice.get("publictest_accuracy_precise_bn", 0), choice["publictest_accuracy_as_trained"])
        if tta == "flip" or choice["publictest_accuracy_flip_tta"] > base:
            model = flipped
    choice["tta"] = "flip" if model is not classifier else "none"
    return model, choice


def best_candidate(run_dir: Path, data, bn_images: int, tta: str) -> tuple[keras.Model, dict]:
    """The best of the run's best-epoch and last-epoch weights, each with its chosen variant."""
    found = [name for name in ("best.weights.h5", "last.weights.h5") if (run_dir / name).is_file()]
    results = []
    for name in found:
        model, choice = select_variant(load_classifier(run_dir, name), data, bn_images, tta)
        choice = {"weights": name, **choice, "publictest_accuracy": accuracy(model, *data[1])}
        print(f"candidate {choice}")
        results.append((model, choice))
    return max(results, key=lambda pair: pair[1]["publictest_accuracy"])


def export(
    run_dir: Path,
    out_dir: Path,
    name: str,
    version: str,
    tta: str = "auto",
    bn_images: int = 8192,
    tolerance: float = 1e-4,
) -> dict:
    """Export a run's best classifier to ``out_dir`` and return its metadata."""
    cfg = TrainConfig.load(run_dir / "config.json")
    splits, data_meta = load_prepared(cfg.data)
    pre = PreprocessConfig.from_dict(data_meta["preprocessing"])
    data = [(to_model_input(splits[s][0], pre), splits[s][1]) for s in ("Training", "PublicTest")]
    model, choice = best_candidate(run_dir, data, bn_images, tta)
    print(f"model selection on PublicTest: {choice}")
    out_dir.mkdir(parents=True, exist_ok=True)
    onnx_path = out_dir / "model.onnx"
    to_onnx(model, onnx_path)
    diff = check_parity(model, onnx_path, data[1][0][:512], tolerance)
    print(f"parity on 512 PublicTest faces: max |keras - onnx| = {diff:.2e}")
    extra = {**choice, "parity_max_abs": diff}
    meta = build_metadata(run_dir, name, version, onnx_path, extra, int(model.count_params()))
    (out_dir / "model.json").write_text(json.dumps(meta, indent=2) + "\n")
    return meta


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run", type=Path, required=True, help="training run folder (runs/<name>)")
    parser.add_argument("--name", default="fer_cnn")
    parser.add_argument("--version", default="1.1.0")
    parser.add_argument("--store", type=Path, default=Path("model_store"))
    parser.add_argument(
        "--tta",
        choices=["auto", "flip", "none"],
        default="auto",
        help="bake flip TTA into the graph (auto: if it helps on PublicTest)",
    )
    parser.add_argument("--bn-images", type=int, default=8192, help="precise-BN images (0 = off)")
    parser.add_argument("--tolerance", type=float, default=1e-4)
    args = parser.parse_args()
    out = args.store / args.name / args.version
    export(args.run, out, args.name, args.version, args.tta, args.bn_images, args.tolerance)
    print(f"wrote {out}/model.onnx and model.json")


if __name__ == "__main__":
    main()
