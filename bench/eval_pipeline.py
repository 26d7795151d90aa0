"""Detector pipeline evaluation (``make bench SUITE=eval_pipeline``): planted FER-2013 faces, per detector.

PublicTest and PrivateTest faces are planted in 640x480 scenes (upscaled to 64-199 px, rotated
within +-25 degrees, on synthetic backgrounds or a photo without faces; seeded). For every
detector: faces found, false detections, CPU ms per scene (one thread), and the accuracy of the
classifier on the found faces' detector crops against the same faces' original FER-2013 crops,
with and without alignment and framing; and, as the ceiling, the planted squares themselves cropped
exactly and turned upright (what planting and resampling alone cost). Each detector crops with
the framing in its card (``python -m training.fit_framing`` fits it).

    python -m bench.eval_pipeline [--faces 800] [--models fer_cnn/1.2.0,fer_lite/1.0.0-int8]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from bench.common import output
from bench.faces.scoring import Detections, PlantedSquares, crop_accuracy, detect_all, predicted_labels
from service.faces.detector import Detector
from service.faces.framing import NO_FRAMING, Framing
from service.loading import load_model
from service.settings import Settings
from training.fit_framing import load_detectors
from training.planting import PHOTO, planted_split

ASTRONAUT = PHOTO.parent / "astronaut.png"  # one face (public domain)


def variants(name: str, framing: Framing) -> list[tuple[str, Framing, bool]]:
    """(row name, framing, align) of each crop scored for detector ``name``."""
    if name == PlantedSquares.name:
        return [("exact, upright", NO_FRAMING, True)]
    plain = [("box as found", NO_FRAMING, False), ("framed", framing, False)]
    if name == "haar":
        return plain
    return [*plain, ("aligned", NO_FRAMING, True), ("aligned + framed", framing, True)]


def evaluate(
    recognizer: Any,
    detectors: dict[str, Detector],
    found: dict[str, Detections],
    scenes: list,
    splits: dict[str, range],
) -> list[dict]:
    """One row per detector and crop variant; ``found`` holds each detector's detections on ``scenes``,
    ``splits`` the range of scenes of each FER-2013 split."""
    rows = []
    on_originals = predicted_labels(recognizer, [case.face for case in scenes])
    for name, detector in detectors.items():
        detections = found[name]
        for variant, framing, align in variants(name, detector.framing):
            row = {"detector": name, "crop": variant, "scenes": len(scenes), "found": len(detections.found)}
            row |= {"found_pct": 100 * len(detections.found) / len(scenes), "false": detections.false_detections}
            row |= {"cpu_ms": detections.cpu_ms}
            row |= crop_accuracy(recognizer, scenes, detections, framing, align, on_originals, splits)
            rows.append(row)
    return rows


def read_gray(path: Path) -> np.ndarray:
    gray = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
    if gray is None:
        raise FileNotFoundError(path)
    return gray


def real_photos(detectors: dict[str, Detector]) -> dict[str, dict[str, int]]:
    """Boxes found on the shipped photos: the astronaut (1 face) and the cat (none)."""
    photos = {"astronaut": ASTRONAUT, "chelsea": PHOTO}
    grays = {photo: read_gray(path) for photo, path in photos.items()}
    return {name: {photo: len(det.detect(gray)) for photo, gray in grays.items()} for name, det in detectors.items()}


def table(rows: list[dict[str, Any]]) -> str:
    lines = [
        "| detector | crop | faces found | false detections | CPU ms / scene | accuracy, detector crops | "
        "accuracy, original crops | gap (+- 1 s.e.) | same label |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r['detector']} | {r['crop']} | {r['found']}/{r['scenes']} ({r['found_pct']:.1f} %) | {r['false']} "
            f"| {r['cpu_ms']:.2f} | {r['accuracy_crops']:.1f} % | {r['accuracy_originals']:.1f} % "
            f"| {r['gap']:+.1f} +- {r['gap_se']:.1f} | {r['agreement']:.1f} % |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=Path("data/processed/fer2013.npz"))
    parser.add_argument("--faces", type=int, default=0, help="faces from each of PublicTest and PrivateTest (0: all)")
    parser.add_argument("--models", help="NAME/VERSION,... instead of the served default (files get their names)")
    args = parser.parse_args(argv)
    cv2.setNumThreads(1)  # CPU per scene on one thread, as the service's worker threads run it
    settings = Settings(blazeface_threads=1)
    data = np.load(args.data)
    detectors = load_detectors(settings)
    public, private = planted_split(data, "PublicTest", args.faces), planted_split(data, "PrivateTest", args.faces)
    scenes = public + private
    splits = {"PublicTest": range(len(public)), "PrivateTest": range(len(public), len(scenes))}
    detectors = {PlantedSquares.name: PlantedSquares(scenes), **detectors}
    found = {name: detect_all(detector, scenes) for name, detector in detectors.items()}  # once for all models
    photos = real_photos({name: d for name, d in detectors.items() if name != PlantedSquares.name})
    for model in args.models.split(",") if args.models else [""]:
        chosen = dict(zip(("model_name", "model_version"), model.split("/"), strict=True)) if model else {}
        recognizer = load_model(settings.model_copy(update=chosen)).recognizer()
        rows = evaluate(recognizer, detectors, found, scenes, splits)
        served = f"{recognizer.model.name}/{recognizer.model.version}"
        report = {"model": served, "rows": rows, "real_photos": photos, "table": table(rows)}
        suffix = f"-{model.replace('/', '-')}" if model else ""
        output(f"eval_pipeline{suffix}.json").write_text(json.dumps(report, indent=2) + "\n")
        print(report["model"], "\n", report["table"], "\n", json.dumps(photos), flush=True)


if __name__ == "__main__":
    main()
