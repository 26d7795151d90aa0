"""Stage 4: evaluate an exported ONNX model on PublicTest and PrivateTest.

    python -m training.evaluate --model model_store/fer_cnn/1.1.0

Faces go through the shared preprocessing with the parameters in the model's model.json,
then through ONNX Runtime: exactly what the service does with a face crop. Writes
results/<name>-<version>/{metrics.json, confusion_matrix.png, hard_examples.png} and the
metrics into model.json.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from service.preprocessing import PreprocessConfig, preprocess_face, to_model_input
from training.metrics import classification_report, format_table
from training.plots import plot_confusion, plot_hard_examples


class OnnxClassifier:
    """An exported model and its preprocessing contract, run with ONNX Runtime."""

    def __init__(self, model_dir: Path):
        import onnxruntime as ort

        self.meta = json.loads((model_dir / "model.json").read_text())
        self.labels: list[str] = self.meta["labels"]
        self.pre = PreprocessConfig.from_dict(self.meta["preprocessing"])
        self.session = ort.InferenceSession(str(model_dir / self.meta["onnx"]["file"]))
        self.input_name = self.meta["input"]["name"]

    def predict_proba(self, raw_faces: np.ndarray, batch_size: int = 256) -> np.ndarray:
        """Probabilities for raw uint8 face crops (N, H, W)."""
        return self.predict_input(self.model_input(raw_faces), batch_size)

    def model_input(self, raw_faces: np.ndarray) -> np.ndarray:
        """Raw uint8 face crops (N, H, W) through the shared preprocessing: the graph's input."""
        return to_model_input(np.stack([preprocess_face(face, self.pre) for face in raw_faces]), self.pre)

    def predict_input(self, x: np.ndarray, batch_size: int = 256) -> np.ndarray:
        """Probabilities for an already preprocessed batch."""
        starts = range(0, len(x), batch_size)
        chunks = [self.session.run(None, {self.input_name: x[i : i + batch_size]})[0] for i in starts]
        return np.concatenate(chunks)


def load_raw_split(data_path: str, split: str) -> tuple[np.ndarray, np.ndarray]:
    """Raw (not yet preprocessed) faces and labels of one split from training.prepare's output."""
    with np.load(data_path, allow_pickle=False) as data:
        return data[f"{split}_raw"], data[f"{split}_y"]


def evaluate_split(model: OnnxClassifier, faces: np.ndarray, labels: np.ndarray) -> tuple[dict, np.ndarray]:
    probs = model.predict_proba(faces)
    return classification_report(labels, probs.argmax(1), model.labels), probs


def evaluate(model_dir: Path, data_path: str, results_root: Path) -> dict:
    """Evaluate on both test splits, write the reports and update model.json."""
    model = OnnxClassifier(model_dir)
    out = results_root / f"{model.meta['name']}-{model.meta['version']}"
    out.mkdir(parents=True, exist_ok=True)
    metrics = {}
    for split in ("PublicTest", "PrivateTest"):
        faces, labels = load_raw_split(data_path, split)
        report, probs = evaluate_split(model, faces, labels)
        metrics[split] = report
        print(f"\n{split}: accuracy {report['accuracy']:.4f}, macro-F1 {report['macro_f1']:.4f} (n={report['n']})")
        print(format_table(report))
        if split == "PrivateTest":
            plot_confusion(np.array(report["confusion_matrix"]), model.labels, out / "confusion_matrix.png", split)
            plot_hard_examples(faces, labels, probs, model.labels, out / "hard_examples.png")
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
    model.meta["metrics"] = metrics
    (model_dir / "model.json").write_text(json.dumps(model.meta, indent=2) + "\n")
    return metrics


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, required=True, help="model_store/<name>/<version>")
    parser.add_argument("--data", default="data/processed/fer2013.npz")
    parser.add_argument("--results", type=Path, default=Path("results"))
    args = parser.parse_args()
    evaluate(args.model, args.data, args.results)


if __name__ == "__main__":
    main()
