"""Stage: a teacher's probabilities for every Training and PublicTest face, cached for distillation.

    python -m training.teach --models model_store/fer_cnn/1.1.0,model_store/fer_cnn/1.2.0 \\
        --out data/processed/teacher.npz

The teacher is one exported model or the mean of several (an ensemble): each member runs its
ONNX file through its own card's preprocessing, exactly as evaluation does. Writes
``{split}_probs`` for Training and PublicTest, and beside it ``<out>.json``: the members and
each one's and the ensemble's PublicTest accuracy (PrivateTest is never looked at here).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from training.evaluate import OnnxClassifier, load_raw_split
from training.labels import LABELS
from training.metrics import classification_report

SPLITS = ("Training", "PublicTest")


def ensemble_probs(members: list[OnnxClassifier], faces: np.ndarray) -> tuple[np.ndarray, list[np.ndarray]]:
    """The mean of the members' probabilities, and each member's own."""
    each = [member.predict_proba(faces) for member in members]
    return np.mean(each, axis=0), each


def teach(model_dirs: list[Path], data_path: str, out: Path) -> dict:
    """Write the teacher's probabilities to ``out`` and its description to ``out.json``; return it."""
    members = [OnnxClassifier(d) for d in model_dirs]
    arrays, record = {}, {"members": [], "splits": list(SPLITS)}
    for split in SPLITS:
        faces, labels = load_raw_split(data_path, split)
        probs, each = ensemble_probs(members, faces)
        arrays[f"{split}_probs"] = probs.astype(np.float32)
        if split == "PublicTest":
            record["publictest_accuracy"] = _accuracy(labels, probs)
            for d, member, member_probs in zip(model_dirs, members, each, strict=True):
                record["members"].append(_describe(d, member, _accuracy(labels, member_probs)))
    out.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(out, **arrays)
    out.with_suffix(".json").write_text(json.dumps(record, indent=2) + "\n")
    return record


def _accuracy(labels: np.ndarray, probs: np.ndarray) -> float:
    return classification_report(labels, probs.argmax(axis=1), list(LABELS))["accuracy"]


def _describe(model_dir: Path, member: OnnxClassifier, publictest_accuracy: float) -> dict:
    meta = member.meta
    return {
        "name": meta["name"],
        "version": meta["version"],
        "sha256": meta["onnx"]["sha256"],
        "publictest_accuracy": publictest_accuracy,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", required=True, help="comma-separated exported model folders")
    parser.add_argument("--data", default="data/processed/fer2013.npz")
    parser.add_argument("--out", type=Path, default=Path("data/processed/teacher.npz"))
    args = parser.parse_args()
    record = teach([Path(m) for m in args.models.split(",")], args.data, args.out)
    print(json.dumps(record, indent=2))


if __name__ == "__main__":
    main()
