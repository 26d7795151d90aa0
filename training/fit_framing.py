"""Each detector's framing, fitted on planted FER-2013 Training faces and written into its card.

    python -m training.fit_framing [--faces 1500]

The service moves and scales a detector's box to the framing of a FER-2013 face before it crops
(``service/framing.py``). A detector's framing is the median, over the planted Training faces it
finds, of the planted face's side over the box's side and of the offset between their centres
(along the face's axes for detectors with eye landmarks, whose crops are levelled). It goes into
``model_store/face_detectors/<name>/card.json``, where the service reads it. Only Training faces
are planted here: the pipeline evaluation (``bench.eval_pipeline``) plants the test splits.
"""

from __future__ import annotations

import argparse
import json
import math
from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np

from service.faces.crops import eye_angle
from service.faces.detector import Box, Detector
from service.faces.framing import Framing, read_card
from service.faces.loading import detector_store, load_blazeface, load_haar
from service.settings import Settings
from training.planting import Planted, planted_split


def load_detectors(settings: Settings) -> dict[str, Detector]:
    """Haar at its default settings and both BlazeFace ranges, each with the framing in its card."""
    short, full = (load_blazeface(settings, blazeface_range) for blazeface_range in ("short", "full"))
    return {"haar": load_haar(settings), "blazeface_short": short, "blazeface_full": full}


def matched_boxes(detector: Detector, scenes: Sequence[Planted]) -> list[tuple[Planted, Box]]:
    """Each scene whose planted face the detector found, with the box that found it."""
    found = ((case, case.first_match(detector.detect(case.scene))) for case in scenes)
    return [(case, box) for case, box in found if box is not None]


def fit_framing(matches: Sequence[tuple[Planted, Box]], align: bool) -> Framing:
    """The median scale and offset (along the face's axes when aligned) from found boxes to the planted squares."""
    rows = []
    for case, box in matches:
        radians = math.radians(eye_angle(box) if align else 0.0)
        shift_x = case.centre[0] - (box.x + box.w / 2)
        shift_y = case.centre[1] - (box.y + box.h / 2)
        along = shift_x * math.cos(radians) + shift_y * math.sin(radians)
        across = -shift_x * math.sin(radians) + shift_y * math.cos(radians)
        rows.append((case.side / box.w, case.side / box.h, along / box.w, across / box.h))
    if not rows:
        raise ValueError("no face found: nothing to fit the framing on")
    scale_x, scale_y, dx, dy = np.median(np.array(rows), axis=0)
    return Framing(float(scale_x), float(scale_y), float(dx), float(dy))


def fit_and_store(detectors: dict[str, Detector], scenes: Sequence[Planted], store: Path) -> dict[str, Framing]:
    """Fit each detector's framing on ``scenes`` and write it into its card under ``store``."""
    fitted = {}
    for name, detector in detectors.items():
        matches = matched_boxes(detector, scenes)
        framing = fit_framing(matches, align=name != "haar")  # BlazeFace's crops are levelled by its eyes
        card_path = store / name / "card.json"
        card = read_card(card_path) or {"name": name, "description": "OpenCV Haar cascade (no model file)"}
        card["framing"] = framing.to_dict()
        card["framing_fit"] = f"median over {len(matches)} planted FER-2013 Training faces (training.fit_framing)"
        card_path.parent.mkdir(parents=True, exist_ok=True)
        card_path.write_text(json.dumps(card, indent=2) + "\n")
        fitted[name] = framing
        print(f"{name}: framing {framing.to_dict()} from {len(matches)} faces")
    return fitted


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=Path("data/processed/fer2013.npz"))
    parser.add_argument("--faces", type=int, default=1500, help="Training faces to plant")
    args = parser.parse_args(argv)
    cv2.setNumThreads(1)  # detect as the service's worker threads do
    settings = Settings(blazeface_threads=1)
    with np.load(args.data) as data:
        scenes = planted_split(data, "Training", args.faces)
    fit_and_store(load_detectors(settings), scenes, detector_store(settings))


if __name__ == "__main__":
    main()
