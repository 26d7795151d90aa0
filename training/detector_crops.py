"""Stage: the crops the service's detectors cut from planted Training faces, each with its source face.

    python -m training.detector_crops --out data/processed/detector_crops.npz [--faces 0] [--workers 2]

The classifier learns FER-2013's own framing, while the service classifies a detector's box,
reframed (and, with eye landmarks, levelled). This stage plants Training faces in scenes as the
pipeline evaluation plants the test faces (``training.planting``, with its own seed), runs Haar and
BlazeFace short range as the service runs them (framing from each detector's card, alignment when it
has eye landmarks) and keeps every found face's crop through the shared preprocessing, with the
face's label and ``source``, its index in the prepared Training split. ``python -m training.train
--paired_crops <out>`` pairs each Training face with its crops (``training.pairing``). Only Training
faces are planted, so PublicTest and PrivateTest stay untouched for choices and reports.
"""

from __future__ import annotations

import argparse
import json
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import cv2
import numpy as np

from service.faces.crops import crop_face
from service.faces.detector import Detector
from service.faces.framing import NO_FRAMING
from service.faces.loading import load_blazeface, load_haar
from service.preprocessing import PreprocessConfig, preprocess_face
from service.settings import Settings
from training.planting import planted_scenes
from training.prepare import load_prepared

# Not a seed of the planted evaluations (training.planting.SEEDS: 11, 12, 13), and fer_cnn 1.3.0's
# crops' seed, so those crops are a subset of these.
SEED = 21
DETECTORS = ("haar", "blazeface_short")


def load_detector(name: str, settings: Settings) -> Detector:
    """A detector by its pipeline-evaluation name: ``haar``, ``blazeface_short`` or ``blazeface_full``."""
    if name == "haar":
        return load_haar(settings)
    if name.startswith("blazeface_"):
        return load_blazeface(settings, name.removeprefix("blazeface_"))
    raise ValueError(f"unknown detector {name!r} (use haar, blazeface_short or blazeface_full)")


def crops_of_chunk(faces: np.ndarray, labels: np.ndarray, seed: int, detectors: list[str], pre: dict) -> dict:
    """Plant ``faces`` (seeded), detect them with each detector; the found faces' preprocessed crops,
    with ``source`` the face's index in ``faces``."""
    cv2.setNumThreads(1)  # one thread a worker, as the service's detection threads run
    settings, config = Settings(blazeface_threads=1), PreprocessConfig.from_dict(pre)
    scenes = planted_scenes(faces, labels, seed)
    images, kept_labels, sources, found_by = [], [], [], []
    for detector_index, name in enumerate(detectors):
        detector = load_detector(name, settings)
        framing = detector.framing if settings.frame_crops else NO_FRAMING
        for index, case in enumerate(scenes):
            box = case.first_match(detector.detect(case.scene))
            if box is not None:
                images.append(preprocess_face(crop_face(case.scene, box, framing, settings.align_faces), config))
                kept_labels.append(case.label)
                sources.append(index)
                found_by.append(detector_index)
    return {
        "x": np.array(images, np.uint8).reshape(-1, config.size, config.size),
        "y": np.array(kept_labels, np.int64),
        "source": np.array(sources, np.int64),
        "detector": np.array(found_by, np.int64),
    }


def detector_crops(data: Path, faces: int, detectors: list[str], workers: int, chunk: int = 500) -> dict:
    """Crops of ``faces`` Training faces (0: all) drawn at random (seeded), planted in chunks on ``workers``
    processes; each chunk has its own seed, so the crops do not depend on ``workers``."""
    splits, meta = load_prepared(data)
    with np.load(data) as arrays:
        raw, labels = arrays["Training_raw"], splits["Training"][1]
    chosen = np.sort(np.random.default_rng(SEED).permutation(len(labels))[: faces or len(labels)])
    starts = range(0, len(chosen), chunk)
    tasks = [
        (raw[chosen[s : s + chunk]], labels[chosen[s : s + chunk]], SEED + s, detectors, meta["preprocessing"])
        for s in starts
    ]
    if workers <= 1:  # in this process (no fork: the caller may hold TensorFlow's threads)
        parts = [crops_of_chunk(*task) for task in tasks]
    else:
        with ProcessPoolExecutor(max_workers=workers) as pool:
            parts = [job.result() for job in [pool.submit(crops_of_chunk, *task) for task in tasks]]
    merged = {key: np.concatenate([part[key] for part in parts]) for key in parts[0]}
    # Chunk-local scene indices -> indices into the Training split.
    offsets = np.concatenate([np.full(len(part["y"]), s, np.int64) for s, part in zip(starts, parts, strict=True)])
    merged["source"] = chosen[merged["source"] + offsets]
    merged["training_faces"] = np.array(len(labels), np.int64)
    return merged


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=Path("data/processed/fer2013.npz"))
    parser.add_argument("--out", type=Path, default=Path("data/processed/detector_crops.npz"))
    parser.add_argument("--faces", type=int, default=0, help="Training faces to plant (0: all)")
    parser.add_argument("--detectors", default=",".join(DETECTORS))
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args(argv)
    started = time.time()
    detectors = args.detectors.split(",")
    crops = detector_crops(args.data, args.faces, detectors, args.workers)
    seconds = time.time() - started
    total = int(crops["training_faces"])
    planted = min(args.faces or total, total)
    info = {
        "planted_faces": planted,
        "detectors": detectors,
        "crops_per_detector": {name: int(np.sum(crops["detector"] == i)) for i, name in enumerate(detectors)},
        "faces_with_a_crop": len(np.unique(crops["source"])),
        "seed": SEED,
        "wall_time_s": round(seconds, 1),
        "seconds_per_face": round(seconds / max(planted, 1), 4),
        "workers": args.workers,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(args.out, **crops, meta=json.dumps(info))
    print(json.dumps(info))


if __name__ == "__main__":
    main()
