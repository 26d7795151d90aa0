"""Stage 1: raw FER-2013 (CSV or folders) -> preprocessed arrays in one .npz file.

    python -m training.prepare --source data/raw/fer2013 --out data/processed/fer2013.npz

Every face goes through the shared preprocessing contract (``service.preprocessing``),
the same code the service runs on face crops.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from service.preprocessing import PreprocessConfig, preprocess_face
from training.data import Split, class_counts, load_dataset
from training.labels import LABELS


def preprocess_split(split: Split, cfg: PreprocessConfig) -> np.ndarray:
    """Apply the preprocessing contract to every image of a split (uint8 out)."""
    out = np.empty((len(split), cfg.size, cfg.size), np.uint8)
    for i, image in enumerate(split.images):
        out[i] = preprocess_face(image, cfg)
    return out


def prepare(source: Path, out: Path, cfg: PreprocessConfig) -> dict[str, dict[str, int]]:
    """Load, preprocess and save all splits; returns the class counts per split."""
    splits = load_dataset(source)
    arrays: dict[str, np.ndarray] = {}
    for name, split in splits.items():
        arrays[f"{name}_x"] = preprocess_split(split, cfg)
        arrays[f"{name}_y"] = split.labels
        arrays[f"{name}_raw"] = split.images
        arrays[f"{name}_names"] = np.array(split.names)
    out.parent.mkdir(parents=True, exist_ok=True)
    meta = {"source": str(source), "preprocessing": cfg.to_dict(), "labels": list(LABELS)}
    np.savez_compressed(out, meta=json.dumps(meta), **arrays)
    return {name: class_counts(split.labels) for name, split in splits.items()}


def load_prepared(path: str | Path) -> tuple[dict[str, tuple[np.ndarray, np.ndarray]], dict]:
    """Read a prepared .npz back: ({split: (faces uint8, labels)}, metadata)."""
    with np.load(path, allow_pickle=False) as data:
        meta = json.loads(str(data["meta"]))
        splits = {s: (data[f"{s}_x"], data[f"{s}_y"]) for s in ("Training", "PublicTest", "PrivateTest")}
    return splits, meta


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--source", type=Path, default=Path("data/raw/fer2013"))
    parser.add_argument("--out", type=Path, default=Path("data/processed/fer2013.npz"))
    args = parser.parse_args()
    counts = prepare(args.source, args.out, PreprocessConfig())
    for split, per_class in counts.items():
        print(f"{split:12s} {sum(per_class.values()):6d}  {per_class}")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
