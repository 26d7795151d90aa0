"""Stage: a teacher's probabilities for every Training and PublicTest face, cached for distillation.

    python -m training.teach --models model_store/fer_cnn/1.1.0,model_store/fer_cnn/1.2.0 \\
        --out data/processed/teacher.npz [--views 8 --view_seed 0 --zoom 0.2]

The teacher is one exported model or the mean of several (an ensemble): each member runs its
ONNX file through its own card's preprocessing, exactly as evaluation does. Writes
``{split}_probs`` for Training and PublicTest, and beside it ``<out>.json``: the members and
each one's and the ensemble's PublicTest accuracy (PrivateTest is never looked at here).

``--views K`` adds K augmented views of every Training face, made by the training augmentation with
the flags given (``--zoom`` etc., as training.config's: the student's), seeded by ``--view_seed``, and
the teacher's probabilities on each view: ``Training_views`` (K, N, 48, 48) uint8 preprocessed faces
and ``Training_view_probs`` (K, N, 7), which a student trains on with ``--teacher_views true``
(training.views says why they are cached rather than computed online). The json then says how they
were made, whether the teacher averages its flip, its MFLOP per face-view and the seconds it took.

``--checkpoint FILE`` saves what is computed after every chunk (a few MB of probabilities, small enough to
commit at a hand-over), and the same command given that file later, on any machine, continues where it
stopped: an ensemble with test-time views takes hours on this CPU (training.teach_progress says how).
"""

from __future__ import annotations

import argparse
import json
import time
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from service.model_store import sha256_of
from service.preprocessing import PreprocessConfig, to_model_input
from training.config import TrainConfig, parse_args
from training.evaluate import OnnxClassifier, load_raw_split
from training.flops import count_macs
from training.labels import LABELS
from training.metrics import classification_report
from training.teach_progress import TeachProgress
from training.views import AUGMENTATION, FLIP_TOLERANCE, augmented_faces, flip_gap, view_augmenter

SPLITS = ("Training", "PublicTest")
# Faces augmented and taught at a time: bounds the float32 work arrays (9 MB of model input); the
# random draws follow the chunks, so it is part of what makes a views file (recorded in the json).
CHUNK = 1024


def ensemble_probs(members: list[OnnxClassifier], faces: np.ndarray) -> tuple[np.ndarray, list[np.ndarray]]:
    """The mean of the members' probabilities, and each member's own."""
    each = [member.predict_proba(faces) for member in members]
    return np.mean(each, axis=0), each


def mean_probs(members: list[OnnxClassifier], x: np.ndarray) -> np.ndarray:
    """The members' mean probabilities for an already preprocessed batch."""
    return np.mean([member.predict_input(x) for member in members], axis=0)


def teach(
    model_dirs: list[Path],
    data_path: str,
    out: Path,
    views: int = 0,
    view_seed: int = 0,
    augment: TrainConfig | None = None,
    checkpoint: Path | None = None,
) -> dict:
    """Write the teacher's probabilities (and ``views`` augmented views of each Training face, made with
    ``augment``'s augmentation) to ``out`` and its description to ``out.json``; return the description.
    With ``checkpoint``, continue from what an earlier run of the same command saved there."""
    members = [OnnxClassifier(d) for d in model_dirs]
    augment = augment or TrainConfig()
    progress = TeachProgress(checkpoint, _command_key(members, data_path, views, view_seed, augment))
    arrays, record = teach_splits(model_dirs, members, data_path, progress)
    if views:
        view_arrays, record["views"] = teach_views(members, data_path, views, view_seed, augment, CHUNK, progress)
        record["views"]["teacher_mflop_per_face_view"] = teacher_mflop(model_dirs, members)
        arrays |= view_arrays
    out.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(out, **arrays)
    out.with_suffix(".json").write_text(json.dumps(record, indent=2) + "\n")
    return record


def teach_splits(model_dirs: list[Path], members: list[OnnxClassifier], data_path: str, progress: TeachProgress):
    """The teacher's probabilities on the clean faces of each split (the npz arrays), and the json's
    record: the ensemble's and each member's PublicTest accuracy."""
    arrays: dict[str, Any] = {}
    record: dict[str, Any] = {"members": [], "splits": list(SPLITS)}
    for split in SPLITS:
        faces, labels = load_raw_split(data_path, split)
        each = progress.get(f"{split}_member_probs")
        if each is None:
            each = progress.put(f"{split}_member_probs", np.stack(ensemble_probs(members, faces)[1]))
        arrays[f"{split}_probs"] = probs = each.mean(axis=0).astype(np.float32)
        if split == "PublicTest":
            record["publictest_accuracy"] = _accuracy(labels, probs)
            for d, member, member_probs in zip(model_dirs, members, each, strict=True):
                record["members"].append(_describe(d, member, _accuracy(labels, member_probs)))
    return arrays, record


def teach_views(
    members: list[OnnxClassifier],
    data_path: str,
    count: int,
    seed: int,
    cfg: TrainConfig,
    chunk: int = CHUNK,
    progress: TeachProgress | None = None,
) -> tuple:
    """``count`` augmented views of every Training face and the teacher's probabilities on each (the
    npz arrays), and how they were made (the json's "views"). Chunks that ``progress`` holds are only
    augmented again: that replays the random draws, so the later chunks get the views they would have."""
    progress = progress or TeachProgress(None, {})
    pre = shared_preprocessing(members, data_path)
    raw, _ = load_raw_split(data_path, "Training")
    gap = progress.get("flip_gap")
    if gap is None:  # on the first chunk's clean faces
        x = members[0].model_input(raw[:chunk])
        gap = progress.put("flip_gap", np.float64(flip_gap(partial(mean_probs, members), x)))
    augmenter = view_augmenter(cfg, seed)
    faces = np.empty((count, len(raw), pre.size, pre.size), np.uint8)
    probs = progress.get("Training_view_probs")
    probs = np.empty((count, len(raw), len(LABELS)), np.float32) if probs is None else probs
    done, seconds = int(progress.get("view_faces_done", 0)), float(progress.get("view_seconds", 0.0))
    for first in range(0, len(raw), chunk):
        rows, end = slice(first, first + chunk), min(first + chunk, len(raw))
        x = members[0].model_input(raw[rows])
        faces[:, rows] = [augmented_faces(augmenter, x, pre) for _ in range(count)]
        if first < done:
            continue
        started = time.perf_counter()
        probs[:, rows] = [mean_probs(members, to_model_input(view, pre)) for view in faces[:, rows]]
        seconds += time.perf_counter() - started
        progress.put("Training_view_probs", probs, view_faces_done=np.int64(end), view_seconds=np.float64(seconds))
        rate = 1000 * seconds / (count * end)
        print(f"views: {count * end:,} of {count * len(raw):,} face-views, {rate:.2f} s per 1,000", flush=True)
    record = {"count": count, "seed": seed, "chunk": chunk, "faces": len(raw)}
    record |= _views_made(cfg, float(gap), 1000 * seconds / (count * len(raw)))
    return {"Training_views": faces, "Training_view_probs": probs}, record


def _views_made(cfg: TrainConfig, gap: float, seconds_per_1000: float) -> dict:
    """How the views were made: their augmentation, whether the teacher averages its flip, and the
    teacher's own seconds per 1,000 face-views (summed over every run that taught part of the file)."""
    augmentation = {name: getattr(cfg, name) for name in AUGMENTATION}
    flip = {"flip_mean_abs_gap": gap, "flip_invariant": gap < FLIP_TOLERANCE}
    return {"augmentation": augmentation} | flip | {"seconds_per_1000_face_views": round(seconds_per_1000, 3)}


def shared_preprocessing(members: list[OnnxClassifier], data_path: str) -> PreprocessConfig:
    """The views' preprocessing: they are the teacher's input and the student's, so every member must
    preprocess as the prepared data (the student's) does."""
    with np.load(data_path, allow_pickle=False) as data:
        student = PreprocessConfig.from_dict(json.loads(str(data["meta"]))["preprocessing"])
    differing = [member.meta["name"] for member in members if member.pre != student]
    if differing:
        raise ValueError(f"{differing} preprocess otherwise than {data_path}: their views would not be the student's")
    return student


def teacher_mflop(model_dirs: list[Path], members: list[OnnxClassifier]) -> float:
    """What one face-view costs the teacher: its members' graphs, their test-time views included."""
    macs = sum(count_macs(d / m.meta["onnx"]["file"])["total"] for d, m in zip(model_dirs, members, strict=True))
    return round(2 * macs / 1e6, 3)


def _command_key(members: list[OnnxClassifier], data_path: str, views: int, seed: int, augment: TrainConfig) -> dict:
    """What makes a teach command's outputs: a checkpoint saved by any other is refused."""
    digest = sha256_of(Path(data_path))
    augmentation = {name: getattr(augment, name) for name in AUGMENTATION}
    teacher = [member.meta["onnx"]["sha256"] for member in members]
    return {"members": teacher, "data": digest, "views": views, "view_seed": seed, "chunk": CHUNK} | augmentation


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


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", required=True, help="comma-separated exported model folders")
    parser.add_argument("--data", default="data/processed/fer2013.npz")
    parser.add_argument("--out", type=Path, default=Path("data/processed/teacher.npz"))
    parser.add_argument("--views", type=int, default=0, help="augmented views of each Training face (0: none)")
    parser.add_argument("--view_seed", type=int, default=0, help="the same seed makes the same views")
    parser.add_argument("--checkpoint", type=Path, help="save progress here; the same command continues from it")
    for name in AUGMENTATION:
        parser.add_argument(f"--{name}", help=f"the views' augmentation (default {getattr(TrainConfig, name)})")
    args = parser.parse_args(argv)
    given = {name: getattr(args, name) for name in AUGMENTATION if getattr(args, name) is not None}
    # training.config's own parsing, so that "--zoom 0.2" means here what it means to the student.
    augment = parse_args([text for name, value in given.items() for text in (f"--{name}", value)])
    models = [Path(m) for m in args.models.split(",")]
    record = teach(models, args.data, args.out, args.views, args.view_seed, augment, args.checkpoint)
    print(json.dumps(record, indent=2))


if __name__ == "__main__":
    main()
